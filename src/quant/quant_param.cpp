// Quantization parameters from clip ranges (docs/spec.md 6; the original's get_qnode_by_param).
// The arithmetic is done in double, as the original does on float64 ranges, and the
// scales are rounded to float32 at the end: the zero point is computed from the double
// scale before that rounding, and before the power-of-two rounding (the original's order).
#include "quant/quant_param.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace dpl {

namespace {
// A range so narrow that its step is below the smallest normal float32 rounds every value to
// code 0 on any step: it is treated as a zero range (step 1), since the float32 scale would
// underflow to 0 or a denormal and the model would divide by it (found by fuzz_quant).
constexpr double kMinScale = static_cast<double>(std::numeric_limits<float>::min());
}  // namespace

QuantParams quant_params(const QuantSpec& spec, const ChannelRanges& r) {
  DPL_CHECK(!r.lo.empty() && r.lo.size() == r.hi.size(), "quantization range needs as many minima as maxima, at least "
            "one (got {} and {})", r.lo.size(), r.hi.size());
  DPL_CHECK(spec.bits >= 2 && spec.bits <= 8, "bit width {} is not supported (2 to 8 bits are)", spec.bits);
  std::vector<double> lo(r.lo.begin(), r.lo.end()), hi(r.hi.begin(), r.hi.end());
  for (size_t c = 0; c < lo.size(); ++c)
    DPL_CHECK(std::isfinite(lo[c]) && std::isfinite(hi[c]), "quantization range [{}, {}]{} is not finite", lo[c], hi[c],
              lo.size() > 1 ? fmt::format(" of channel {}", c) : std::string());

  bool symmetric = spec.symmetric;
  if (!spec.per_channel) {
    const double l = *std::min_element(lo.begin(), lo.end());
    const double h = *std::max_element(hi.begin(), hi.end());
    lo.assign(1, l);
    hi.assign(1, h);
    // dynamic_sym: a tensor that starts at 0 (after a Relu, say) gets the full unsigned range.
    if (spec.dynamic_sym && std::fabs(l) < 1e-6) symmetric = false;
  }

  const size_t n = lo.size();
  QuantParams p;
  p.symmetric = symmetric;
  p.zp_type = symmetric ? DType::I8 : DType::U8;
  p.bits = spec.bits;
  p.scale.resize(n);
  p.zero_point.resize(n);
  p.qmin.resize(n);
  p.qmax.resize(n);
  std::vector<double> scale(n);
  if (symmetric) {
    // -(2^(b-1) - 1)..2^(b-1) - 1 (-127..127 at 8 bits): the signed range made symmetric.
    const int32_t qmax = signed_max_code(spec.bits);
    for (size_t c = 0; c < n; ++c) {
      scale[c] = std::max(std::fabs(lo[c]), std::fabs(hi[c])) / qmax;
      if (scale[c] < kMinScale) scale[c] = 1.0;  // all-zero channel or tensor, or as good as
      p.zero_point[c] = 0;
      p.qmin[c] = -qmax;
      p.qmax[c] = qmax;
    }
  } else {
    const int32_t levels = unsigned_max_code(spec.bits);  // 2^b - 1
    for (size_t c = 0; c < n; ++c) {
      const double l = std::min(0.0, lo[c]), h = std::max(0.0, hi[c]);
      scale[c] = (h - l) / levels;
      if (scale[c] < kMinScale) scale[c] = 1.0;
      // nearbyint rounds half to even in the default mode, as numpy's round.
      const auto zp = static_cast<int32_t>(std::nearbyint(-l / scale[c]));
      p.zero_point[c] = zp;
      p.qmin[c] = -zp;
      p.qmax[c] = levels - zp;
    }
  }
  for (size_t c = 0; c < n; ++c) {
    double s = scale[c];
    // 2^127: the largest power of two a float32 holds (a range near FLT_MAX rounds up to 2^128).
    if (spec.log_scale) s = std::exp2(std::min(127.0, std::nearbyint(std::log2(s))));
    p.scale[c] = static_cast<float>(s);
  }
  return p;
}

QuantParams quant_params(const QuantSpec& spec, const Range& r) {
  ChannelRanges c;
  c.lo = {r.lo};
  c.hi = {r.hi};
  return quant_params(spec, c);
}

Tensor scale_tensor(const QuantParams& p) {
  const Shape shape = p.per_channel() ? Shape{static_cast<int64_t>(p.scale.size())} : Shape{};
  return Tensor::from_vector<float>(shape, p.scale);
}

Tensor zero_point_tensor(const QuantParams& p) {
  const Shape shape = p.per_channel() ? Shape{static_cast<int64_t>(p.zero_point.size())} : Shape{};
  Tensor zp(p.zp_type, shape);
  for (size_t c = 0; c < p.zero_point.size(); ++c) {
    if (p.zp_type == DType::I8) zp.data<int8_t>()[c] = static_cast<int8_t>(p.zero_point[c]);
    else zp.data<uint8_t>()[c] = static_cast<uint8_t>(p.zero_point[c]);
  }
  return zp;
}

}  // namespace dpl
