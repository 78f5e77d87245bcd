// Clip: y = min(max(x, lo), hi). Opset 11+ takes lo and hi as optional one-element inputs;
// before that they are the float attributes min and max. A missing bound does not clip
// (infinite for floats, the type's range for integers). When lo > hi every value becomes hi,
// as ONNX specifies; NaN passes through.
//
// In fused sessions a Clip absorbs a following QuantizeLinear -> DequantizeLinear pair (the
// sub-8-bit fake quantization of a QDQ model) and runs all three as one pass
// (runtime/ops/fake_quant.h).
#include <algorithm>
#include <limits>
#include <optional>

#include "runtime/fusion.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/grad_util.h"
#include "runtime/ops/fake_quant.h"

namespace dpl {
namespace {

// ClipOp's value (NaN passes; lo > hi gives hi).
template <typename T>
inline T clip_value(T v, T lo, T hi) {
  const T a = v < lo ? lo : v;
  return a > hi ? hi : a;
}

class ClipOp : public Op {
 public:
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool extra_ready) const override {
    return self.absorbed.empty() && extra_ready && f.op_type == kQuantDequantOp && f.absorbed.size() == 2 &&
           fake_quant_pair(f.absorbed[0], f.absorbed[1]);
  }

  void init(const NodeDesc& node) override {
    attr_form_ = node.opset < 11 || node.attrs.has("min") || node.attrs.has("max");
    if (attr_form_) {
      if (node.attrs.has("min")) attr_min_ = node.attrs.get_float("min", 0.f), has_min_ = true;
      if (node.attrs.has("max")) attr_max_ = node.attrs.get_float("max", 0.f), has_max_ = true;
    }
    own_inputs_ = node.absorbed.empty() ? node.inputs.size() : node.own_inputs;
    fused_ = !node.absorbed.empty();
    if (fused_) {
      const NodeDesc &q = node.absorbed[0].absorbed[0], &dq = node.absorbed[0].absorbed[1];
      name_ = "Clip '" + node.name + "' + QuantizeLinear '" + q.name + "' + DequantizeLinear '" + dq.name + "'";
      const int first = static_cast<int>(own_inputs_);
      fq_ = fake_quant_operands(q, first, dq, first + 1 + (q.has_input(2) ? 1 : 0));
      span_fq_ = constant_fake_quant(name_, fq_, node);
    }
  }

  bool forward_span(const SpanArgs& a) override {
    if ((fused_ && !span_fq_) || a.inputs < 1 || !a.in[0] || a.scalar[0]) return false;
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (attr_form_) {
      attribute_bounds(lo, hi);
    } else {
      for (size_t k = 1; k < 3 && k < std::min(a.inputs, own_inputs_); ++k) {  // past them: the pair's operands
        if (!a.present[k]) continue;
        if (!a.in[k] || !a.scalar[k]) return false;  // forward() reports it
        (k == 1 ? lo : hi) = *a.in[k];
      }
    }
    const float* __restrict x = a.in[0];
    float* __restrict y = a.y;
    for (int64_t i = 0; i < a.n; ++i) y[i] = clip_value(x[i], lo, hi);
    if (span_fq_) (*span_fq_)(y, a.n);  // the fused pair: what forward_fused gives, value by value
    return true;
  }
  bool has_backward() const override { return !fused_; }  // grad_kernels.h; a fused Clip->Q->DQ does not train
  void backward(OpContext&, const GradArgs& args) override {
    const Tensor& x = grad::float_input(args, 0, "Clip");
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (attr_form_) {
      attribute_bounds(lo, hi);
    } else {
      bound<float>(args.inputs, 1, "min", x, lo);
      bound<float>(args.inputs, 2, "max", x, hi);
    }
    grad::clip(args, lo, hi);
  }

  void forward(OpContext& ctx, const std::vector<const Tensor*>& in_all, std::vector<Tensor>& out) override {
    const std::vector<const Tensor*> in(in_all.begin(), in_all.begin() + static_cast<long>(own_inputs_));
    if (fused_) return forward_fused(ctx, in, in_all, out);
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
          attribute_bounds(lo, hi);
        } else {
          bound<T>(in, 1, "min", x, lo);
          bound<T>(in, 2, "max", x, hi);
        }
        Tensor y(x.dtype(), x.shape());
        parallel_map(x.data<T>(), y.data<T>(), x.numel(), [lo, hi](T v) { return clip_value(v, lo, hi); });
        out[0] = std::move(y);
      } else {
        fail("element type {} is not supported", dtype_name(x.dtype()));
      }
    });
  }

 private:
  // Clip -> QuantizeLinear -> DequantizeLinear: float in one pass; other types clip first.
  void forward_fused(OpContext& ctx, const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& in_all,
                     std::vector<Tensor>& out) {
    const Tensor& x = ew::required_input(in, 0);
    FakeQuantArgs a = fq_.args(in_all);
    Tensor y;
    if (x.dtype() == DType::F32) {
      if (attr_form_) {
        attribute_bounds(a.clip_lo, a.clip_hi);
      } else {
        bound<float>(in, 1, "min", x, a.clip_lo);
        bound<float>(in, 2, "max", x, a.clip_hi);
      }
      fake_quantize(name_, x, a, y);
    } else {
      std::vector<Tensor> clipped(1);
      fused_ = false;
      forward(ctx, in, clipped);
      fused_ = true;
      fake_quantize(name_, clipped[0], a, y);
    }
    out[0] = std::move(y);
  }

  // The bounds of the attribute form (opset < 11), where given.
  template <typename T>
  void attribute_bounds(T& lo, T& hi) const {
    if (has_min_) lo = static_cast<T>(attr_min_);
    if (has_max_) hi = static_cast<T>(attr_max_);
  }

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
  size_t own_inputs_ = 0;
  bool fused_ = false;
  FakeQuantOperands fq_;
  std::optional<FakeQuantSpan> span_fq_;  // the absorbed pair, when its operands are constants
  std::string name_;
};

}  // namespace

DPL_REGISTER_OP("Clip", ClipOp);

}  // namespace dpl
