// Unary math: Sqrt, Exp, Log, Abs, Neg, Reciprocal, Floor, Ceil, Round, Erf, Sign, Sin,
// Cos, Not. Float-only functions accept float32/float64; Abs, Neg, Sign also integers
// (as ONNX defines them); Not takes bool. The differentiable ones have grad(x, y, dy), dL/dx
// from their derivative, the op's backward pass (float32). Floor, Ceil, Round and Sign have
// none: their derivative is zero almost everywhere, and what training passes through them
// (zero or a straight-through estimate) is the trainer's choice, not the kernel's.
#include <cmath>

#include "runtime/ops/elementwise.h"

namespace dpl {
namespace {

using ew::NoAttrs;
using ew::UnaryOp;

struct SqrtFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return std::sqrt(x); }
  template <typename T> T grad(T, T y, T dy) const { return dy / (T(2) * y); }
};

struct ExpFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return ew::exp_fast(x);
    else return std::exp(x);
  }
  template <typename T> T grad(T, T y, T dy) const { return dy * y; }
};

struct LogFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const { return std::log(x); }
  template <typename T> T grad(T x, T, T dy) const { return dy / x; }
};

struct AbsFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T>) return x;
    else if constexpr (ew::is_float_v<T>) return std::fabs(x);
    else return static_cast<T>(x < 0 ? -x : x);
  }
  template <typename T> T grad(T x, T, T dy) const { return x > T(0) ? dy : (x < T(0) ? -dy : T(0)); }
};

struct NegFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_signed_numeric_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const {
    if constexpr (ew::is_float_v<T>) return -x;
    // Through the unsigned type so that -INT_MIN wraps (as two's complement hardware does).
    else return static_cast<T>(-static_cast<std::make_unsigned_t<T>>(x));
  }
  template <typename T> T grad(T, T, T dy) const { return -dy; }
};

struct ReciprocalFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return T(1) / x; }
  template <typename T> T grad(T, T y, T dy) const { return -dy * y * y; }
};

struct FloorFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return std::floor(x); }
};

struct CeilFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return std::ceil(x); }
};

// Round half to even: nearbyint in the default rounding mode.
struct RoundFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return std::nearbyint(x); }
};

struct ErfFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const {
    if constexpr (ew::is_float_v<T>) return std::erf(x);
    else return static_cast<T>(std::erf(static_cast<double>(x)));
  }
  // 2 / sqrt(pi) * exp(-x^2).
  template <typename T> T grad(T x, T, T dy) const { return dy * T(1.12837916709551257390) * std::exp(-x * x); }
};

struct SignFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T>) return static_cast<T>(x > 0);
    // NaN stays NaN.
    else if constexpr (ew::is_float_v<T>) return x > 0 ? T(1) : (x < 0 ? T(-1) : (x == 0 ? T(0) : x));
    else return static_cast<T>((x > 0) - (x < 0));
  }
};

struct SinFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const { return std::sin(x); }
  template <typename T> T grad(T x, T, T dy) const { return dy * std::cos(x); }
};

struct CosFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const { return std::cos(x); }
  template <typename T> T grad(T x, T, T dy) const { return -dy * std::sin(x); }
};

struct NotFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_bool_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return !x; }
};

}  // namespace

DPL_REGISTER_OP("Sqrt", UnaryOp<SqrtFn>);
DPL_REGISTER_OP("Exp", UnaryOp<ExpFn>);
DPL_REGISTER_OP("Log", UnaryOp<LogFn>);
DPL_REGISTER_OP("Abs", UnaryOp<AbsFn>);
DPL_REGISTER_OP("Neg", UnaryOp<NegFn>);
DPL_REGISTER_OP("Reciprocal", UnaryOp<ReciprocalFn>);
DPL_REGISTER_OP("Floor", UnaryOp<FloorFn>);
DPL_REGISTER_OP("Ceil", UnaryOp<CeilFn>);
DPL_REGISTER_OP("Round", UnaryOp<RoundFn>);
DPL_REGISTER_OP("Erf", UnaryOp<ErfFn>);
DPL_REGISTER_OP("Sign", UnaryOp<SignFn>);
DPL_REGISTER_OP("Sin", UnaryOp<SinFn>);
DPL_REGISTER_OP("Cos", UnaryOp<CosFn>);
DPL_REGISTER_OP("Not", UnaryOp<NotFn>);

}  // namespace dpl
