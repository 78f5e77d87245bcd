// Where: y = condition ? x : z with three-way multidirectional broadcasting.
#include "runtime/ops/elementwise.h"

namespace dpl {
namespace {

class WhereOp : public Op {
 public:
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    if (ew::forward_f16_as_f32(*this, ctx, in, out, 1)) return;
    const Tensor& c = ew::required_input(in, 0);
    const Tensor& x = ew::required_input(in, 1);
    const Tensor& z = ew::required_input(in, 2);
    DPL_CHECK(c.dtype() == DType::Bool, "condition must be bool, got {}", dtype_name(c.dtype()));
    DPL_CHECK(x.dtype() == z.dtype(), "X and Y types differ ({} and {})", dtype_name(x.dtype()), dtype_name(z.dtype()));
    const Shape shape = broadcast_shape(broadcast_shape(c.shape(), x.shape()), z.shape());
    dispatch_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      Tensor y(x.dtype(), shape);
      broadcast_ternary<T, bool, T, T>(c, x, z, y, [](bool s, T a, T b) { return s ? a : b; });
      out[0] = std::move(y);
    });
  }
};

}  // namespace

DPL_REGISTER_OP("Where", WhereOp);

}  // namespace dpl
