// Identity and Dropout (inference mode: no masking): the output shares the input buffer.
#include "runtime/op_registry.h"

namespace dpl {
namespace {

class IdentityOp : public Op {
 public:
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    out[0] = *in[0];
    // Dropout's optional mask output: all true in inference.
    if (out.size() > 1) {
      out[1] = Tensor(DType::Bool, in[0]->shape());
      std::fill_n(out[1].data<bool>(), out[1].numel(), true);
    }
  }
};

}  // namespace

DPL_REGISTER_OP("Identity", IdentityOp);
DPL_REGISTER_OP("Dropout", IdentityOp);

}  // namespace dpl
