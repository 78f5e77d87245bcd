// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual) and logical operators
// (And, Or, Xor) with multidirectional broadcasting; the output is bool.
#include "runtime/ops/elementwise.h"

namespace dpl {
namespace {

using ew::BinaryOp;
using ew::NoAttrs;

// Equal is also defined on bool; the ordered comparisons on numbers only.
struct EqualFn : NoAttrs {
  template <typename T> static constexpr bool supports = true;
  template <typename T> using out_t = bool;
  static constexpr bool heavy = false;
  template <typename T> bool operator()(T a, T b) const { return a == b; }
};

struct LessFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = bool;
  static constexpr bool heavy = false;
  template <typename T> bool operator()(T a, T b) const { return a < b; }
};

struct GreaterFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = bool;
  static constexpr bool heavy = false;
  template <typename T> bool operator()(T a, T b) const { return a > b; }
};

struct LessOrEqualFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = bool;
  static constexpr bool heavy = false;
  template <typename T> bool operator()(T a, T b) const { return a <= b; }
};

struct GreaterOrEqualFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_numeric_v<T>;
  template <typename T> using out_t = bool;
  static constexpr bool heavy = false;
  template <typename T> bool operator()(T a, T b) const { return a >= b; }
};

struct AndFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_bool_v<T>;
  template <typename T> using out_t = bool;
  static constexpr bool heavy = false;
  template <typename T> bool operator()(T a, T b) const { return a && b; }
};

struct OrFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_bool_v<T>;
  template <typename T> using out_t = bool;
  static constexpr bool heavy = false;
  template <typename T> bool operator()(T a, T b) const { return a || b; }
};

struct XorFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_bool_v<T>;
  template <typename T> using out_t = bool;
  static constexpr bool heavy = false;
  template <typename T> bool operator()(T a, T b) const { return a != b; }
};

}  // namespace

DPL_REGISTER_OP("Equal", BinaryOp<EqualFn>);
DPL_REGISTER_OP("Less", BinaryOp<LessFn>);
DPL_REGISTER_OP("Greater", BinaryOp<GreaterFn>);
DPL_REGISTER_OP("LessOrEqual", BinaryOp<LessOrEqualFn>);
DPL_REGISTER_OP("GreaterOrEqual", BinaryOp<GreaterOrEqualFn>);
DPL_REGISTER_OP("And", BinaryOp<AndFn>);
DPL_REGISTER_OP("Or", BinaryOp<OrFn>);
DPL_REGISTER_OP("Xor", BinaryOp<XorFn>);

}  // namespace dpl
