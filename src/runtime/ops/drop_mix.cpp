// "dpl.DropMix" (a, b, seed) -> (y, mask): QDrop's random mix of a quantized and a float
// tensor, y = where(u < prob, a, b), with u uniform in [0, 1) drawn afresh for every element
// from the int64 scalar `seed` (attribute prob, default 0.5). Only reconstruction's block
// models use it (transform/block_model.h, docs/training.md "BRECQ and QDrop"): a is the
// fake-quantized tensor, b the float one, and the trainer feeds a new seed every iteration.
//
// The draw is a counter-based hash of (seed, element index), so it is the same for any
// thread count and needs no generator state; the mask is a second output (uint8, 1 where y
// took a) so that the backward pass reads the mask its forward used from the tape:
// dL/da = dL/dy * mask, dL/db = dL/dy * (1 - mask).
#include <cstdint>

#include "runtime/op_registry.h"
#include "runtime/ops/grad_util.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

// splitmix64's finalizer: a bijection that scatters consecutive counters.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class DropMixOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = "dpl.DropMix '" + node.name + "'";
    const double p = node.attrs.get_float("prob", 0.5f);
    DPL_CHECK(p >= 0 && p <= 1, "{}: prob must lie in [0, 1], got {}", name_, p);
    // u < prob with u = top 53 bits / 2^53, compared on the integer: bits < prob * 2^53.
    threshold_ = static_cast<uint64_t>(p * 9007199254740992.0);
  }
  bool has_backward() const override { return true; }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    DPL_CHECK(in.size() == 3 && in[0] && in[1] && in[2], "{}: needs a, b and seed", name_);
    const Tensor &a = *in[0], &b = *in[1], &seed = *in[2];
    DPL_CHECK(a.dtype() == DType::F32 && b.dtype() == DType::F32, "{}: a and b must be float32", name_);
    DPL_CHECK(a.shape() == b.shape(), "{}: a and b differ in shape ({} vs {})", name_, shape_str(a.shape()),
              shape_str(b.shape()));
    DPL_CHECK(seed.dtype() == DType::I64 && seed.numel() == 1, "{}: seed must be an int64 scalar", name_);
    const uint64_t s = mix64(static_cast<uint64_t>(seed.data<int64_t>()[0]) + 0x9e3779b97f4a7c15ULL);
    Tensor y(DType::F32, a.shape()), m(DType::U8, a.shape());
    const float *pa = a.data<float>(), *pb = b.data<float>();
    float* py = y.data<float>();
    uint8_t* pm = m.data<uint8_t>();
    const uint64_t thr = threshold_;
    parallel_for(a.numel(), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const bool take_a = (mix64(s ^ static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ULL) >> 11) < thr;
        pm[i] = take_a;
        py[i] = take_a ? pa[i] : pb[i];
      }
    });
    out[0] = y;
    if (out.size() > 1) out[1] = m;
  }
  void backward(OpContext&, const GradArgs& args) override {
    const bool wa = grad::wants(args, 0), wb = grad::wants(args, 1);
    if (!wa && !wb) return;
    DPL_CHECK(args.outputs.size() > 1 && args.outputs[1], "{} backward: the mask output is missing", name_);
    const Tensor& m = *args.outputs[1];
    const Tensor* dy = grad::output_grad(args, 0, name_);
    Tensor da = Tensor::zeros(DType::F32, m.shape()), db = Tensor::zeros(DType::F32, m.shape());
    if (dy) {
      const uint8_t* pm = m.data<uint8_t>();
      const float* pg = dy->data<float>();
      float *pa = da.data<float>(), *pb = db.data<float>();
      parallel_for(m.numel(), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) (pm[i] ? pa : pb)[i] = pg[i];
      });
    }
    if (wa) args.grad_inputs[0] = da;
    if (wb) args.grad_inputs[1] = db;
  }

 private:
  std::string name_;
  uint64_t threshold_ = 0;
};

}  // namespace

DPL_REGISTER_OP("dpl.DropMix", DropMixOp);

}  // namespace dpl
