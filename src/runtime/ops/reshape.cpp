// Reshape, Flatten, Squeeze, Unsqueeze: the output shares the input buffer (no copy).
#include <optional>
#include <string>

#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

// Resolves a Reshape target: 0 copies the input dim (unless allowzero), -1 is inferred.
// Returns false when the element count cannot match.
bool resolve_shape(const Shape& in, Shape& t, bool allowzero, std::string* err) {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == -1) {
      if (infer >= 0) return *err = "more than one -1", false;
      infer = static_cast<int>(i);
      continue;
    }
    if (t[i] == 0 && !allowzero) {
      if (i >= in.size()) return *err = "0 at position " + std::to_string(i) + " has no input dim to copy", false;
      t[i] = in[i];
    }
    if (t[i] < 0) return *err = "dim " + std::to_string(t[i]) + " is invalid", false;
    known *= t[i];
  }
  const int64_t n = shape_numel(in);
  if (infer >= 0) {
    if (known == 0 || n % known != 0) return *err = "cannot infer the -1 dim", false;
    t[infer] = n / known;
  } else if (known != n) {
    return *err = "element counts differ", false;
  }
  return true;
}

class ReshapeOp : public grad::ReshapeGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override {
    allowzero_ = node.attrs.get_int("allowzero", 0) != 0;
    // Opset 1-4 took the shape as an attribute.
    if (!node.has_input(1)) {
      DPL_CHECK(node.attrs.has("shape"), "Reshape needs a 'shape' input");
      shape_attr_ = node.attrs.get_ints("shape");
    }
  }
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const Shape target = in.size() > 1 && in[1] ? ops::input_ints(in[1]) : shape_attr_;
    Shape t = target;
    std::string err;
    // Batch rule. A model exported with batch B (ctx.declared_batch) and run with batch N
    // (ctx.actual_batch) often carries B as a literal first dim of a Reshape target (torch
    // folds x.view(x.size(0), ...) into a constant). When the target's first dim is B, the
    // data's first dim is N != B, and the target with N in place of B resolves to the same
    // element count as the data (including any -1), the first dim is taken as the batch and
    // becomes N. Otherwise the target is used as written.
    if (ctx.declared_batch > 0 && ctx.actual_batch > 0 && ctx.actual_batch != ctx.declared_batch && !t.empty() &&
        t[0] == ctx.declared_batch && x.rank() > 0 && x.dim(0) == ctx.actual_batch) {
      Shape scaled = t;
      scaled[0] = ctx.actual_batch;
      std::string unused;
      if (resolve_shape(x.shape(), scaled, allowzero_, &unused)) {
        out[0] = x.reshaped(std::move(scaled));
        return;
      }
    }
    DPL_CHECK(resolve_shape(x.shape(), t, allowzero_, &err), "cannot reshape {} to {}: {}", shape_str(x.shape()),
              shape_str(target), err);
    out[0] = x.reshaped(std::move(t));
  }

 private:
  bool allowzero_ = false;
  Shape shape_attr_;
};

class FlattenOp : public grad::ReshapeGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override { axis_ = node.attrs.get_int("axis", 1); }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const int r = x.rank();
    DPL_CHECK(axis_ >= -r && axis_ <= r, "Flatten axis {} is out of range for rank {}", axis_, r);
    const int axis = static_cast<int>(axis_ < 0 ? axis_ + r : axis_);
    int64_t outer = 1;
    for (int d = 0; d < axis; ++d) outer *= x.dim(d);
    int64_t inner = 1;
    for (int d = axis; d < r; ++d) inner *= x.dim(d);
    out[0] = x.reshaped({outer, inner});
  }

 private:
  int64_t axis_ = 1;
};

// Axes from the 'axes' input (opset 13+) or attribute (before 13).
struct AxesSource {
  bool from_input = false, present = false;
  std::vector<int64_t> attr;
  void init(const NodeDesc& node) {
    from_input = node.opset >= 13;
    if (!from_input) {
      present = node.attrs.has("axes");
      attr = node.attrs.get_ints("axes");
    }
  }
  // nullopt when absent.
  std::optional<std::vector<int64_t>> get(const std::vector<const Tensor*>& in) const {
    if (from_input) {
      if (in.size() > 1 && in[1]) return ops::input_ints(in[1]);
      return std::nullopt;
    }
    if (present) return attr;
    return std::nullopt;
  }
};

class SqueezeOp : public grad::ReshapeGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override { axes_.init(node); }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const int r = x.rank();
    std::vector<char> drop(r, 0);
    // An empty axes list removes every unit dim, as when it is omitted (as ONNX Runtime does).
    auto axes = axes_.get(in);
    if (axes && !axes->empty()) {
      for (int64_t a : *axes) {
        const int d = ops::norm_axis(a, r, "Squeeze axis");
        DPL_CHECK(x.dim(d) == 1, "Squeeze axis {} has size {}, not 1 (shape {})", d, x.dim(d), shape_str(x.shape()));
        drop[d] = 1;
      }
    } else {
      for (int d = 0; d < r; ++d) drop[d] = x.dim(d) == 1;
    }
    Shape s;
    for (int d = 0; d < r; ++d)
      if (!drop[d]) s.push_back(x.dim(d));
    out[0] = x.reshaped(std::move(s));
  }

 private:
  AxesSource axes_;
};

class UnsqueezeOp : public grad::ReshapeGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override { axes_.init(node); }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    auto axes = axes_.get(in);
    DPL_CHECK(axes.has_value(), "Unsqueeze needs 'axes'");
    const int r = x.rank() + static_cast<int>(axes->size());
    std::vector<char> add(r, 0);
    for (int64_t a : *axes) {
      const int d = ops::norm_axis(a, r, "Unsqueeze axis");
      DPL_CHECK(!add[d], "Unsqueeze axis {} is given twice", d);
      add[d] = 1;
    }
    Shape s(r);
    for (int d = 0, k = 0; d < r; ++d) s[d] = add[d] ? 1 : x.dim(k++);
    out[0] = x.reshaped(std::move(s));
  }

 private:
  AxesSource axes_;
};

}  // namespace

DPL_REGISTER_OP("Reshape", ReshapeOp);
DPL_REGISTER_OP("Flatten", FlattenOp);
DPL_REGISTER_OP("Squeeze", SqueezeOp);
DPL_REGISTER_OP("Unsqueeze", UnsqueezeOp);

}  // namespace dpl
