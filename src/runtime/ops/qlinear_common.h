// Helpers shared by the integer operators (QLinearConv, ConvInteger, QLinearMatMul,
// MatMulInteger): zero-point reading and the ONNX requantization of int32 accumulators.
#pragma once
#include <cmath>
#include <limits>
#include <string>

#include "runtime/parallel.h"
#include "core/tensor.h"

namespace dpl {

// Value i of an integer zero-point tensor (0 when absent).
inline int32_t zp_at(const Tensor* zp, int64_t i = 0) {
  if (!zp) return 0;
  return static_cast<int32_t>(zp->at_i64(zp->numel() == 1 ? 0 : i));
}

// Checks a scale/zero point is a scalar or 1-D with `n` values (per channel).
inline void check_quant_param(const std::string& op, const char* what, const Tensor& t, int64_t n, bool allow_per_channel) {
  if (t.numel() == 1 && t.rank() <= 1) return;
  DPL_CHECK(allow_per_channel && t.rank() == 1 && t.numel() == n, "{}: {} must be a scalar{}, got shape {}", op, what,
            allow_per_channel ? fmt::format(" or have {} values", n) : std::string(), shape_str(t.shape()));
}

// y = saturate(round_half_even(float(acc + bias[c]) * mult[c]) + y_zp) for an
// [outer, channels, inner] accumulator block; per_channel selects mult/bias by channel
// (bias may be null). Matches ONNX Runtime's requantization (float multiplier
// x_scale * w_scale / y_scale, round to nearest even, then add the zero point and clamp).
template <typename Q>
void requantize(const int32_t* acc, Q* y, int64_t outer, int64_t channels, int64_t inner, const float* mult,
                bool per_channel_mult, const int32_t* bias, int32_t y_zp) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  const float zpf = static_cast<float>(y_zp);
  parallel_for(
      outer * channels,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t c = b % channels;
          const float m = mult[per_channel_mult ? c : 0];
          const int32_t bv = bias ? bias[c] : 0;
          const int32_t* a = acc + b * inner;
          Q* o = y + b * inner;
          for (int64_t i = 0; i < inner; ++i) {
            float v = std::nearbyint(static_cast<float>(a[i] + bv) * m) + zpf;
            v = v > lo ? v : lo;
            v = v < hi ? v : hi;
            o[i] = static_cast<Q>(v);
          }
        }
      },
      std::max<int64_t>(1, 65536 / std::max<int64_t>(inner, 1)));
}

}  // namespace dpl
