// Slice (opset 10+: starts/ends/axes/steps inputs; before 10: attributes, step 1).
// Bounds follow ONNX: negative starts/ends count from the end, then clamp to [0, dim] for
// positive steps and [0, dim-1] / [-1, dim-1] for negative steps, so INT64_MAX / INT64_MIN
// sentinels mean "to the end". The copy is a strided view (negative strides for negative
// steps) handed to strided_copy: memcpy of contiguous runs where the innermost dim is whole.
#include <algorithm>

#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

class SliceOp : public grad::MoveGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override {
    attr_form_ = node.opset < 10;
    if (attr_form_) {
      DPL_CHECK(node.attrs.has("starts") && node.attrs.has("ends"), "Slice (opset {}) needs 'starts' and 'ends'",
                node.opset);
      starts_ = node.attrs.get_ints("starts");
      ends_ = node.attrs.get_ints("ends");
      axes_ = node.attrs.get_ints("axes");
      has_axes_ = node.attrs.has("axes");
    }
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    std::vector<int64_t> starts, ends, axes, steps;
    bool has_axes = false;
    if (attr_form_) {
      starts = starts_;
      ends = ends_;
      axes = axes_;
      has_axes = has_axes_;
    } else {
      DPL_CHECK(in.size() >= 3 && in[1] && in[2], "Slice needs the 'starts' and 'ends' inputs");
      starts = ops::input_ints(in[1]);
      ends = ops::input_ints(in[2]);
      if (in.size() > 3 && in[3]) {
        axes = ops::input_ints(in[3]);
        has_axes = true;
      }
      if (in.size() > 4 && in[4]) steps = ops::input_ints(in[4]);
    }
    const size_t k = starts.size();
    DPL_CHECK(ends.size() == k, "Slice has {} starts but {} ends", k, ends.size());
    if (!has_axes) {
      axes.resize(k);
      for (size_t i = 0; i < k; ++i) axes[i] = static_cast<int64_t>(i);
    }
    DPL_CHECK(axes.size() == k, "Slice has {} starts but {} axes", k, axes.size());
    if (steps.empty()) steps.assign(k, 1);
    DPL_CHECK(steps.size() == k, "Slice has {} starts but {} steps", k, steps.size());

    const int r = x.rank();
    Shape start(r, 0), step(r, 1), count = x.shape();
    std::vector<char> seen(r, 0);
    for (size_t i = 0; i < k; ++i) {
      const int a = ops::norm_axis(axes[i], r, "Slice axis");
      DPL_CHECK(!seen[a], "Slice axis {} is given twice", a);
      seen[a] = 1;
      const int64_t st = steps[i], dim = x.dim(a);
      DPL_CHECK(st != 0, "Slice step for axis {} is 0", a);
      int64_t s = starts[i], e = ends[i];
      if (s < 0) s += dim;
      if (e < 0) e += dim;
      int64_t c;
      if (dim == 0) {
        s = 0;
        c = 0;
      } else if (st > 0) {
        s = std::clamp<int64_t>(s, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        c = e > s ? (e - s + st - 1) / st : 0;
      } else {
        s = std::clamp<int64_t>(s, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        c = s > e ? (s - e - st - 1) / -st : 0;
      }
      start[a] = s;
      step[a] = st;
      count[a] = c;
    }

    bool whole = true;
    for (int d = 0; d < r; ++d) whole = whole && count[d] == x.dim(d) && (step[d] == 1 || count[d] <= 1);
    if (whole) {
      out[0] = x;
      return;
    }
    Tensor y(x.dtype(), count);
    if (y.numel() > 0) {
      const auto in_st = shape_strides(x.shape());
      std::vector<int64_t> st(r);
      int64_t off = 0;
      for (int d = 0; d < r; ++d) {
        st[d] = in_st[d] * step[d];
        off += start[d] * in_st[d];
      }
      const size_t es = dtype_size(x.dtype());
      ops::strided_copy(y.raw(), static_cast<const char*>(x.raw()) + off * es, count, st, es);
    }
    out[0] = std::move(y);
  }

 private:
  bool attr_form_ = false, has_axes_ = false;
  std::vector<int64_t> starts_, ends_, axes_;
};

}  // namespace

DPL_REGISTER_OP("Slice", SliceOp);

}  // namespace dpl
