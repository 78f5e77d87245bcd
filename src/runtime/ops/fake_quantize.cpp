// "dpl.FakeQuantize" (x, scale, zero_point) -> y: QuantizeLinear followed by
// DequantizeLinear in one pass, per tensor, for the profiling sessions only (never written to
// a model file: subgraph.h's profiling_graph puts it in a private copy of the QDQ model).
// With the attribute inplace=1, y is written over x's buffer: only for an x that no other
// node reads and that is not a graph input or output (profiling_graph decides).
//
//   y = (saturate(round_half_even(x / scale) + zp) - zp) * scale
//
// bit for bit what runtime/ops/quantize_linear.cpp computes in two passes (a float
// division, round-to-nearest-even, clamping to the zero point type's range, NaN to its low
// end); tests/profile/test_fake_quant.cpp checks that on halves, extremes, NaN and Inf.
// Rounding uses the 1.5 * 2^23 trick, exact for |v| < 2^22 under the default rounding mode;
// larger values saturate whatever their rounding, which keeps the loop vectorizable.
#include <limits>

#include "runtime/op_registry.h"
#include "runtime/ops/grad_kernels.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

template <typename Q>
void fake_quant(const float* x, float* y, int64_t n, float s, float zp) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  constexpr float kMagic = 12582912.f;  // 1.5 * 2^23
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float t = x[i] / s;
      // Values of magnitude 2^22 and more saturate below; NaN stays NaN and clamps low.
      const float r = (t < 4194304.f && t > -4194304.f) ? (t + kMagic) - kMagic : t;
      float v = r + zp;
      v = v > lo ? v : lo;
      v = v < hi ? v : hi;
      y[i] = (v - zp) * s;
    }
  });
}

class FakeQuantizeOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = "dpl.FakeQuantize '" + node.name + "'";
    inplace_ = node.attrs.get_int("inplace", 0) != 0;
  }
  // Straight-through for x, LSQ for the scale (grad_kernels.h); not in place (y overwrote x).
  bool has_backward() const override { return !inplace_; }
  void backward(OpContext&, const GradArgs& args) override {
    DPL_CHECK(!inplace_, "{}: no backward pass in place", name_);
    grad::fake_quantize(args, name_);
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    DPL_CHECK(in.size() == 3 && in[0] && in[1] && in[2], "{}: needs x, scale and zero_point", name_);
    const Tensor& x = *in[0];
    const Tensor& scale = *in[1];
    const Tensor& zp = *in[2];
    DPL_CHECK(x.dtype() == DType::F32, "{}: input must be float32, got {}", name_, dtype_name(x.dtype()));
    DPL_CHECK(scale.numel() == 1 && zp.numel() == 1 && scale.dtype() == DType::F32,
              "{}: per-tensor float scale and zero point expected", name_);
    // In place: the graph guarantees that nothing else reads x (profile/subgraph.cpp).
    Tensor y = inplace_ ? x : Tensor(DType::F32, x.shape());
    const float s = scale.data<float>()[0];
    if (zp.dtype() == DType::I8)
      fake_quant<int8_t>(x.data<float>(), y.data<float>(), x.numel(), s, static_cast<float>(zp.data<int8_t>()[0]));
    else if (zp.dtype() == DType::U8)
      fake_quant<uint8_t>(x.data<float>(), y.data<float>(), x.numel(), s, static_cast<float>(zp.data<uint8_t>()[0]));
    else
      fail("{}: zero point must be int8 or uint8, got {}", name_, dtype_name(zp.dtype()));
    out[0] = y;
  }

 private:
  std::string name_;
  bool inplace_ = false;
};

}  // namespace

DPL_REGISTER_OP("dpl.FakeQuantize", FakeQuantizeOp);

}  // namespace dpl
