// Transpose. Unit dims are dropped and dims that stay adjacent are merged first, so the
// common layouts reduce to a few shapes: NCHW<->NHWC and 2-D become a (batched) 2-D
// transpose done in cache blocks, [0,2,1,3]-like shuffles become memcpy of contiguous runs,
// and a permutation that only moves unit dims shares the input buffer (see strided_copy).
#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

class TransposeOp : public grad::MoveGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override {
    has_perm_ = node.attrs.has("perm");
    perm_ = node.attrs.get_ints("perm");
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    std::vector<int64_t> perm = perm_;
    if (!has_perm_) {
      perm.resize(x.rank());
      for (int i = 0; i < x.rank(); ++i) perm[i] = x.rank() - 1 - i;
    }
    out[0] = ops::transpose_tensor(x, perm);
  }

 private:
  bool has_perm_ = false;
  std::vector<int64_t> perm_;
};

}  // namespace

DPL_REGISTER_OP("Transpose", TransposeOp);

}  // namespace dpl
