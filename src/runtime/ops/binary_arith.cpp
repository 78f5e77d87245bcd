// Binary arithmetic with multidirectional broadcasting: Add, Sub, Mul, Div, Mod, Pow.
// Add, Sub, Mul and Div have grad (the backward pass, runtime/ops/binary_grad.h).
// Integer arithmetic wraps on overflow (two's complement) instead of being undefined;
// integer division or modulo by zero is an error.
#include <cmath>
#include <type_traits>

#include "runtime/ops/elementwise.h"

namespace dpl {
namespace {

using ew::BinaryOp;
using ew::NoAttrs;

struct AddFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = T;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T a, T b) const { return ew::wrap_add(a, b); }
  template <typename T> void grad(T, T, T, T dy, T& da, T& db) const { da = dy, db = dy; }
};

struct SubFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = T;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T a, T b) const { return ew::wrap_sub(a, b); }
  template <typename T> void grad(T, T, T, T dy, T& da, T& db) const { da = dy, db = -dy; }
};

struct MulFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = T;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T a, T b) const { return ew::wrap_mul(a, b); }
  template <typename T> void grad(T a, T b, T, T dy, T& da, T& db) const { da = dy * b, db = dy * a; }
};

template <typename T>
void check_no_zero_divisor(const Tensor& b, const char* what) {
  if constexpr (std::is_integral_v<T>) {
    const T* p = b.data<T>();
    for (int64_t i = 0; i < b.numel(); ++i)
      DPL_CHECK(p[i] != 0, "integer {} by zero", what);
  }
}

struct DivFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = T;
  static constexpr bool heavy = false;
  template <typename T> void check(const Tensor&, const Tensor& b) const { check_no_zero_divisor<T>(b, "division"); }
  template <typename T> T operator()(T a, T b) const {
    if constexpr (ew::is_float_v<T> || std::is_unsigned_v<T>) {
      return a / b;
    } else {
      // Truncating division; MIN / -1 wraps to MIN instead of trapping.
      return b == T(-1) ? static_cast<T>(-static_cast<std::make_unsigned_t<T>>(a)) : static_cast<T>(a / b);
    }
  }
  template <typename T> void grad(T, T b, T y, T dy, T& da, T& db) const { da = dy / b, db = -dy * y / b; }
};

// fmod = 0: integer remainder with the divisor's sign (Python's %); for floats the same
// floored modulo. fmod = 1: C's fmod / %, with the dividend's sign.
struct ModFn {
  bool fmod = false;
  void init(const NodeDesc& n) {
    const int64_t v = n.attrs.get_int("fmod", 0);
    DPL_CHECK(v == 0 || v == 1, "fmod must be 0 or 1, got {}", v);
    fmod = v == 1;
  }
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = T;
  static constexpr bool heavy = true;
  template <typename T> void check(const Tensor&, const Tensor& b) const { check_no_zero_divisor<T>(b, "modulo"); }
  template <typename T> T operator()(T a, T b) const {
    if constexpr (ew::is_float_v<T>) {
      T r = std::fmod(a, b);
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    } else if constexpr (std::is_unsigned_v<T>) {
      return static_cast<T>(a % b);
    } else {
      if (b == T(-1)) return T(0);  // also avoids the MIN % -1 trap
      T r = static_cast<T>(a % b);
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = ew::wrap_add(r, b);
      return r;
    }
  }
};

// dL/da = dy b a^(b-1), dL/db = dy y ln(a) (0 where a <= 0: the exponent of a negative base
// is an integer there, and the derivative in it is not defined).
struct PowGrad {
  template <typename T>
  void grad(T a, T b, T y, T dy, T& da, T& db) const {
    da = b == T(0) ? T(0) : dy * b * std::pow(a, b - T(1));
    db = a > T(0) ? dy * y * std::log(a) : T(0);
  }
};

// Pow: base type T (float, double, int32, int64), exponent of any numeric type; the
// output has the base's type. Integer bases are computed in double and truncated.
// Backward (float32 base and exponent): PowGrad, summed back over broadcast axes.
class PowOp : public Op {
 public:
  bool has_backward() const override { return true; }
  void backward(OpContext&, const GradArgs& args) override { ew::binary_backward(PowGrad{}, args); }
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    if (ew::forward_f16_as_f32(*this, ctx, in, out)) return;
    const Tensor& x = ew::required_input(in, 0);
    const Tensor& e = ew::required_input(in, 1);
    const Shape shape = broadcast_shape(x.shape(), e.shape());
    dispatch_dtype(x.dtype(), [&](auto xt) {
      using T = decltype(xt);
      if constexpr (ew::is_numeric_v<T>) {
        Tensor y(x.dtype(), shape);
        dispatch_dtype(e.dtype(), [&](auto et) {
          using E = decltype(et);
          if constexpr (ew::is_numeric_v<E>) {
            if constexpr (std::is_same_v<T, E> && ew::is_float_v<T>) {
              if (e.numel() == 1 && fast_scalar<T>(x, e, y)) return;
            }
            broadcast_binary<T, T, E>(
                x, e, y, [](T a, E b) { return pow_one(a, b); }, kElementwiseGrainHeavy);
          } else {
            fail("exponent type {} is not supported", dtype_name(e.dtype()));
          }
        });
        out[0] = std::move(y);
      } else {
        fail("element type {} is not supported", dtype_name(x.dtype()));
      }
    });
  }

 private:
  template <typename T, typename E>
  static T pow_one(T a, E b) {
    if constexpr (std::is_same_v<T, float> && std::is_same_v<E, float>) return std::pow(a, b);
    else return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  }
  // Exponent a scalar 1, 2 or 3: cheap forms (x^2 is common in normalizations).
  template <typename T>
  static bool fast_scalar(const Tensor& x, const Tensor& e, Tensor& y) {
    if (y.shape() != x.shape()) return false;
    const T p = e.data<T>()[0];
    const T* xs = x.data<T>();
    T* ys = y.data<T>();
    if (p == T(2)) parallel_map(xs, ys, x.numel(), [](T v) { return v * v; });
    else if (p == T(1)) parallel_map(xs, ys, x.numel(), [](T v) { return v; });
    else if (p == T(3)) parallel_map(xs, ys, x.numel(), [](T v) { return v * v * v; });
    else return false;
    return true;
  }
};

}  // namespace

DPL_REGISTER_OP("Add", BinaryOp<AddFn>);
DPL_REGISTER_OP("Sub", BinaryOp<SubFn>);
DPL_REGISTER_OP("Mul", BinaryOp<MulFn>);
DPL_REGISTER_OP("Div", BinaryOp<DivFn>);
DPL_REGISTER_OP("Mod", BinaryOp<ModFn>);
DPL_REGISTER_OP("Pow", PowOp);

}  // namespace dpl
