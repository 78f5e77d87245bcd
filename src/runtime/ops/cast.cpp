// Cast and CastLike between every type the runtime holds: float32/64, float16 (stored as
// uint16), int8..int64, uint8..uint64, bool.
//  - float -> integer truncates toward zero. Out-of-range values and NaN give what an x86
//    build of ONNX Runtime gives (C++ leaves them undefined): through int32 for targets of
//    32 bits or less (int32 MIN when out of its range, then wrapped to the target), through
//    int64 for uint32 and int64, and 2^63 for uint64.
//  - integer -> integer wraps (two's complement); anything -> bool is x != 0 (NaN -> true).
//  - float16 conversions round to nearest even (double -> float16 without double rounding).
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/ops/elementwise.h"

namespace dpl {

namespace ew {

uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u)  // inf, NaN (quiet, payload kept where it fits)
    return static_cast<uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (ax < 0x38800000u) {  // below 2^-14: subnormal half (units of 2^-24) or zero
    const float a = std::bit_cast<float>(ax);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  const uint32_t e = ax - (112u << 23);  // exponent bias 127 -> 15
  const uint32_t r = e + 0xfffu + ((e >> 13) & 1u);  // round half to even on the 13 dropped bits
  return static_cast<uint16_t>(sign | (r >> 13));
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24
    return sign ? -v : v;
  }
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
}

namespace {

// double -> float rounded to odd, so that a following float -> half rounding is correct.
float f64_to_f32_round_odd(double d) {
  if (!std::isfinite(d)) return static_cast<float>(d);
  float f = static_cast<float>(d);
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  if (static_cast<double>(f) != d) f = std::bit_cast<float>(std::bit_cast<uint32_t>(f) | 1u);
  return f;
}

template <typename D, typename S>
inline D float_to_int(S v) {
  const double d = static_cast<double>(v);
  if constexpr (std::is_same_v<D, uint64_t>) {
    if (d >= 0.0 && d < 18446744073709551616.0) return static_cast<uint64_t>(v);
    if (d > -9223372036854775809.0 && d < 0.0) return static_cast<uint64_t>(static_cast<int64_t>(v));
    return uint64_t{1} << 63;
  } else if constexpr (sizeof(D) == 8 || std::is_same_v<D, uint32_t>) {
    const int64_t t = (d >= -9223372036854775808.0 && d < 9223372036854775808.0) ? static_cast<int64_t>(v)
                                                                                  : std::numeric_limits<int64_t>::min();
    return static_cast<D>(t);
  } else {
    const int32_t t = (d > -2147483649.0 && d < 2147483648.0) ? static_cast<int32_t>(v)
                                                               : std::numeric_limits<int32_t>::min();
    return static_cast<D>(t);
  }
}

template <typename D, typename S>
inline D convert_one(S v) {
  if constexpr (std::is_same_v<D, bool>) return v != S(0);
  else if constexpr (std::is_same_v<S, bool>) return static_cast<D>(v ? 1 : 0);
  else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) return float_to_int<D>(v);
  else return static_cast<D>(v);
}

template <typename D, typename S>
void convert(const S* x, D* y, int64_t n) {
  parallel_map(x, y, n, [](S v) { return convert_one<D>(v); });
}

}  // namespace

Tensor cast_tensor(const Tensor& x, DType to) {
  DPL_CHECK(dtype_supported(to), "cannot cast to {}", dtype_name(to));
  if (x.dtype() == to) return x;
  const int64_t n = x.numel();
  if (x.dtype() == DType::F16) {  // via float32
    Tensor f(DType::F32, x.shape());
    parallel_map(x.data<uint16_t>(), f.data<float>(), n, [](uint16_t h) { return f16_to_f32(h); });
    return to == DType::F32 ? f : cast_tensor(f, to);
  }
  if (to == DType::F16) {
    Tensor y(DType::F16, x.shape());
    uint16_t* py = y.data<uint16_t>();
    if (x.dtype() == DType::F64) {
      parallel_map(x.data<double>(), py, n, [](double v) { return f32_to_f16(f64_to_f32_round_odd(v)); });
    } else {
      const Tensor f = x.dtype() == DType::F32 ? x : cast_tensor(x, DType::F32);
      parallel_map(f.data<float>(), py, n, [](float v) { return f32_to_f16(v); });
    }
    return y;
  }
  Tensor y(to, x.shape());
  dispatch_dtype(x.dtype(), [&](auto st) {
    using S = decltype(st);
    dispatch_dtype(to, [&](auto dt) {
      using D = decltype(dt);
      convert<D, S>(x.data<S>(), y.data<D>(), n);
    });
  });
  return y;
}

bool forward_f16_as_f32(Op& op, OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out,
                        size_t value_input) {
  bool any = false;
  for (const Tensor* t : in) any = any || (t != nullptr && t->dtype() == DType::F16);
  if (!any) return false;
  std::vector<Tensor> tmp(in.size());
  std::vector<const Tensor*> in32(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != nullptr && in[i]->dtype() == DType::F16) {
      tmp[i] = cast_tensor(*in[i], DType::F32);
      in32[i] = &tmp[i];
    } else {
      in32[i] = in[i];
    }
  }
  op.forward(ctx, in32, out);
  const bool back = value_input < in.size() && in[value_input] != nullptr && in[value_input]->dtype() == DType::F16;
  if (back)
    for (auto& o : out)
      if (o.defined() && o.dtype() == DType::F32) o = cast_tensor(o, DType::F16);
  return true;
}

}  // namespace ew

namespace {

class CastOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    DPL_CHECK(node.attrs.has("to"), "attribute 'to' is required");
    to_ = static_cast<DType>(node.attrs.get_int("to", 0));
    DPL_CHECK(dtype_supported(to_), "cannot cast to {}", dtype_name(to_));
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    out[0] = ew::cast_tensor(ew::required_input(in, 0), to_);
  }

 private:
  DType to_ = DType::Undefined;
};

// CastLike: to the element type of the second input.
class CastLikeOp : public Op {
 public:
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    out[0] = ew::cast_tensor(ew::required_input(in, 0), ew::required_input(in, 1).dtype());
  }
};

}  // namespace

DPL_REGISTER_OP("Cast", CastOp);
DPL_REGISTER_OP("CastLike", CastLikeOp);

}  // namespace dpl
