// The integer tensors of the QOP model, computed as ONNX's QuantizeLinear and QLinearConv
// define them (quant/qop_tensors.h).
#include "quant/qop_tensors.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace dpl {

namespace {

std::pair<int32_t, int32_t> type_bounds(DType t) {
  DPL_CHECK(t == DType::I8 || t == DType::U8, "8-bit quantization type expected, got {}", dtype_name(t));
  return t == DType::I8 ? std::pair<int32_t, int32_t>{-128, 127} : std::pair<int32_t, int32_t>{0, 255};
}

}  // namespace

QuantParams as_type(QuantParams p, DType t) {
  type_bounds(t);
  if (p.zp_type == t) return p;
  const int32_t shift = t == DType::U8 ? 128 : -128;
  for (auto& z : p.zero_point) z += shift;
  for (auto& q : p.qmin) q += shift;
  for (auto& q : p.qmax) q += shift;
  p.zp_type = t;
  return p;
}

bool same_grid(const QuantParams& a, const QuantParams& b) {
  if (a.scale != b.scale) return false;
  return as_type(b, a.zp_type).zero_point == a.zero_point;
}

std::pair<double, double> representable_range(const QuantParams& p) {
  DPL_CHECK(p.scale.size() == 1, "representable_range: per-tensor parameters expected");
  const auto [lo, hi] = type_bounds(p.zp_type);
  const double s = p.scale[0];
  return {s * (lo - p.zero_point[0]), s * (hi - p.zero_point[0])};
}

Tensor quantize_linear(const Tensor& x, const QuantParams& p, int axis) {
  DPL_CHECK(x.dtype() == DType::F32, "quantize_linear: float32 tensor expected, got {}", dtype_name(x.dtype()));
  const auto [lo, hi] = type_bounds(p.zp_type);
  const int64_t channels = static_cast<int64_t>(p.scale.size());
  int64_t inner = x.numel(), outer = 1;
  if (channels > 1) {
    DPL_CHECK(axis >= 0 && axis < x.rank() && x.dim(axis) == channels,
              "quantize_linear: {} scales do not match axis {} of shape {}", channels, axis, shape_str(x.shape()));
    inner = 1;
    for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
    outer = x.numel() / (channels * std::max<int64_t>(inner, 1));
  }
  Tensor q(p.zp_type, x.shape());
  const float* src = x.data<float>();
  int8_t* dst8 = p.zp_type == DType::I8 ? q.data<int8_t>() : nullptr;
  uint8_t* dstu8 = p.zp_type == DType::U8 ? q.data<uint8_t>() : nullptr;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const float s = p.scale[c];
      const float z = static_cast<float>(p.zero_point[c]);
      const int64_t base = (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        // float32 division and round-half-even, as QuantizeLinear.
        float v = std::nearbyint(src[base + i] / s) + z;
        // Written so that NaN clamps to the low end, as the runtime's QuantizeLinear and ONNX
        // Runtime's do (std::max would keep it, and converting NaN is undefined).
        v = v > lo ? v : static_cast<float>(lo);
        v = v < hi ? v : static_cast<float>(hi);
        if (dst8) dst8[base + i] = static_cast<int8_t>(v);
        else dstu8[base + i] = static_cast<uint8_t>(v);
      }
    }
  return q;
}

Tensor quantize_bias(const Tensor& b, float x_scale, const std::vector<float>& w_scale, int64_t& clamped) {
  DPL_CHECK(b.dtype() == DType::F32, "bias must be float32, got {}", dtype_name(b.dtype()));
  DPL_CHECK(w_scale.size() == 1 || static_cast<int64_t>(w_scale.size()) == b.numel(),
            "bias has {} values but the weight has {} scales", b.numel(), w_scale.size());
  Tensor q(DType::I32, {b.numel()});
  constexpr double kMin = std::numeric_limits<int32_t>::min(), kMax = std::numeric_limits<int32_t>::max();
  for (int64_t c = 0; c < b.numel(); ++c) {
    const float bias_scale = x_scale * w_scale[w_scale.size() == 1 ? 0 : c];
    double v = std::nearbyint(static_cast<double>(b.data<float>()[c]) / bias_scale);
    if (v < kMin || v > kMax || std::isnan(v)) {
      ++clamped;
      v = std::isnan(v) ? 0.0 : std::min(std::max(v, kMin), kMax);
    }
    q.data<int32_t>()[c] = static_cast<int32_t>(v);
  }
  return q;
}

}  // namespace dpl
