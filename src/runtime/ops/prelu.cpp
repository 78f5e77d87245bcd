// PRelu: y = x < 0 ? slope * x : x, the slope broadcast to x (typically [C,1,1] or
// [1,C,1,1] against [N,C,H,W]: one slope value per run of H*W). ONNX asks for the slope to
// broadcast to x; a slope that widens x is accepted too (BinaryOp broadcasts both ways).
// Backward (binary_grad.h): dL/dx and dL/dslope, summed over the axes the slope broadcasts.
#include "runtime/ops/elementwise.h"

namespace dpl {
namespace {

struct PReluFn : ew::NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = T;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T v, T s) const { return v < T(0) ? ew::wrap_mul(v, s) : v; }
  template <typename T> void grad(T v, T s, T, T dy, T& dv, T& ds) const {
    dv = v < T(0) ? dy * s : dy;
    ds = v < T(0) ? dy * v : T(0);
  }
};

}  // namespace

DPL_REGISTER_OP("PRelu", ew::BinaryOp<PReluFn>);

}  // namespace dpl
