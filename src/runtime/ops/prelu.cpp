// PRelu: y = x < 0 ? slope * x : x, the slope broadcast to x (typically [C,1,1] or
// [1,C,1,1] against [N,C,H,W]: one slope value per run of H*W).
#include "runtime/ops/elementwise.h"

namespace dpl {
namespace {

class PReluOp : public Op {
 public:
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    if (ew::forward_f16_as_f32(*this, ctx, in, out)) return;
    const Tensor& x = ew::required_input(in, 0);
    const Tensor& slope = ew::required_input(in, 1);
    DPL_CHECK(x.dtype() == slope.dtype(), "input types differ ({} and {})", dtype_name(x.dtype()),
              dtype_name(slope.dtype()));
    // ONNX asks for the slope to broadcast to x; a slope that widens x is accepted too.
    const Shape shape = broadcast_shape(x.shape(), slope.shape());
    dispatch_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (ew::is_numeric_v<T>) {
        Tensor y(x.dtype(), shape);
        broadcast_binary<T, T, T>(x, slope, y, [](T v, T s) { return v < T(0) ? ew::wrap_mul(v, s) : v; });
        out[0] = std::move(y);
      } else {
        fail("element type {} is not supported", dtype_name(x.dtype()));
      }
    });
  }
};

}  // namespace

DPL_REGISTER_OP("PRelu", PReluOp);

}  // namespace dpl
