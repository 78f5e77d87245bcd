// "dpl.FakeQuantize" (x, scale, zero_point) -> y: QuantizeLinear followed by
// DequantizeLinear in one pass, per tensor, for the profiling sessions only (never written to
// a model file: subgraph.h's profiling_graph puts it in a private copy of the QDQ model).
// With the attribute inplace=1, y is written over x's buffer: only for an x that no other
// node reads and that is not a graph input or output (profiling_graph decides). The
// attributes qmin / qmax (codes, zero point included) narrow the saturation to a sub-8-bit
// grid: reconstruction's block models (transform/block_model.h) quantize with them, where the
// QDQ model puts a Clip before its QuantizeLinear, so that the scale's LSQ gradient sees
// where the grid clamps.
//
//   y = (saturate(round_half_even(x / scale) + zp) - zp) * scale
//
// bit for bit what runtime/ops/quantize_linear.cpp computes in two passes
// (runtime/ops/fake_quant.h, the kernel fused sessions use too); tests/profile/
// test_fake_quant.cpp checks that on halves, extremes, NaN and Inf.
#include "runtime/op_registry.h"
#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/fake_quant.h"

namespace dpl {
namespace {

class FakeQuantizeOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = "dpl.FakeQuantize '" + node.name + "'";
    inplace_ = node.attrs.get_int("inplace", 0) != 0;
    code_lo_ = static_cast<float>(node.attrs.get_int("qmin", -(int64_t{1} << 30)));
    code_hi_ = static_cast<float>(node.attrs.get_int("qmax", int64_t{1} << 30));
  }
  // Straight-through for x, LSQ for the scale (grad_kernels.h); not in place (y overwrote x).
  bool has_backward() const override { return !inplace_; }
  void backward(OpContext&, const GradArgs& args) override {
    DPL_CHECK(!inplace_, "{}: no backward pass in place", name_);
    grad::fake_quantize(args, name_, code_lo_, code_hi_);
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    DPL_CHECK(in.size() == 3 && in[0] && in[1] && in[2], "{}: needs x, scale and zero_point", name_);
    const Tensor& x = *in[0];
    const Tensor& scale = *in[1];
    const Tensor& zp = *in[2];
    DPL_CHECK(x.dtype() == DType::F32, "{}: input must be float32, got {}", name_, dtype_name(x.dtype()));
    DPL_CHECK(scale.numel() == 1 && zp.numel() == 1 && scale.dtype() == DType::F32,
              "{}: per-tensor float scale and zero point expected", name_);
    DPL_CHECK(zp.dtype() == DType::I8 || zp.dtype() == DType::U8, "{}: zero point must be int8 or uint8, got {}",
              name_, dtype_name(zp.dtype()));
    // In place: the graph guarantees that nothing else reads x (profile/subgraph.cpp).
    Tensor y = inplace_ ? x : Tensor();
    FakeQuantArgs a;
    a.q_scale = a.dq_scale = &scale;
    a.q_zp = a.dq_zp = &zp;
    a.code_lo = code_lo_;
    a.code_hi = code_hi_;
    fake_quantize(name_, x, a, y);
    out[0] = y;
  }

 private:
  std::string name_;
  bool inplace_ = false;
  float code_lo_ = 0, code_hi_ = 0;
};

}  // namespace

DPL_REGISTER_OP("dpl.FakeQuantize", FakeQuantizeOp);

}  // namespace dpl
