// Clip: y = min(max(x, lo), hi). Opset 11+ takes lo and hi as optional one-element inputs;
// before that they are the float attributes min and max. A missing bound does not clip
// (infinite for floats, the type's range for integers). When lo > hi every value becomes hi,
// as ONNX specifies; NaN passes through.
#include <limits>

#include "runtime/ops/elementwise.h"
#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

class ClipOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    attr_form_ = node.opset < 11 || node.attrs.has("min") || node.attrs.has("max");
    if (attr_form_) {
      if (node.attrs.has("min")) attr_min_ = node.attrs.get_float("min", 0.f), has_min_ = true;
      if (node.attrs.has("max")) attr_max_ = node.attrs.get_float("max", 0.f), has_max_ = true;
    }
  }

  bool has_backward() const override { return true; }  // grad_kernels.h
  void backward(OpContext&, const GradArgs& args) override {
    const Tensor& x = grad::float_input(args, 0, "Clip");
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (attr_form_) {
      if (has_min_) lo = attr_min_;
      if (has_max_) hi = attr_max_;
    } else {
      bound<float>(args.inputs, 1, "min", x, lo);
      bound<float>(args.inputs, 2, "max", x, hi);
    }
    grad::clip(args, lo, hi);
  }

  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    if (ew::forward_f16_as_f32(*this, ctx, in, out)) return;
    const Tensor& x = ew::required_input(in, 0);
    dispatch_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (ew::is_numeric_v<T>) {
        T lo, hi;
        if constexpr (ew::is_float_v<T>) {
          lo = -std::numeric_limits<T>::infinity();
          hi = std::numeric_limits<T>::infinity();
        } else {
          lo = std::numeric_limits<T>::lowest();
          hi = std::numeric_limits<T>::max();
        }
        if (attr_form_) {
          if (has_min_) lo = static_cast<T>(attr_min_);
          if (has_max_) hi = static_cast<T>(attr_max_);
        } else {
          bound<T>(in, 1, "min", x, lo);
          bound<T>(in, 2, "max", x, hi);
        }
        Tensor y(x.dtype(), x.shape());
        parallel_map(x.data<T>(), y.data<T>(), x.numel(), [lo, hi](T v) {
          const T a = v < lo ? lo : v;
          return a > hi ? hi : a;
        });
        out[0] = std::move(y);
      } else {
        fail("element type {} is not supported", dtype_name(x.dtype()));
      }
    });
  }

 private:
  template <typename T>
  static void bound(const std::vector<const Tensor*>& in, size_t i, const char* name, const Tensor& x, T& v) {
    if (i >= in.size() || in[i] == nullptr || !in[i]->defined()) return;
    const Tensor& b = *in[i];
    DPL_CHECK(b.numel() == 1, "{} must be a scalar, got shape {}", name, shape_str(b.shape()));
    DPL_CHECK(b.dtype() == x.dtype(), "{} has type {} but the input is {}", name, dtype_name(b.dtype()),
              dtype_name(x.dtype()));
    v = b.data<T>()[0];
  }

  bool attr_form_ = false, has_min_ = false, has_max_ = false;
  float attr_min_ = 0.f, attr_max_ = 0.f;
};

}  // namespace

DPL_REGISTER_OP("Clip", ClipOp);

}  // namespace dpl
