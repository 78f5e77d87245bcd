// The Lp clip search (see lp_search.h; the method and its reasons in docs/calibration.md).
#include "calib/lp_search.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace dpl::calib {

GridQuantizer GridQuantizer::make(double lo, double hi, int bits, bool symmetric) {
  DPL_CHECK(bits >= 2 && bits <= 16, "a range search needs a bit width in 2..16, got {}", bits);
  GridQuantizer q;
  if (symmetric) {
    const double qmax = std::ldexp(1.0, bits - 1) - 1;
    q.scale = std::max(std::fabs(lo), std::fabs(hi)) / qmax;
    q.code_lo = -qmax;
    q.code_hi = qmax;
  } else {
    const double l = std::min(0.0, lo), h = std::max(0.0, hi);
    const double levels = std::ldexp(1.0, bits) - 1;
    q.scale = (h - l) / levels;
    if (q.scale == 0.0) q.scale = 1.0;
    q.zero_point = std::nearbyint(-l / q.scale);
    q.code_lo = 0;
    q.code_hi = levels;
  }
  if (q.scale == 0.0) q.scale = 1.0;          // an all-zero range, as the QDQ builder
  q.scale = static_cast<float>(q.scale);      // the model stores float32 scales
  return q;
}

double GridQuantizer::apply(double x) const {
  const double code = std::clamp(std::nearbyint(x / scale) + zero_point, code_lo, code_hi);
  return (code - zero_point) * scale;
}

void GridQuantizer::apply(const float* x, float* y, int64_t n) const {
  const float inv = static_cast<float>(1.0 / scale), sc = static_cast<float>(scale),
              zp = static_cast<float>(zero_point), clo = static_cast<float>(code_lo), chi = static_cast<float>(code_hi);
  for (int64_t i = 0; i < n; ++i)
    y[i] = std::isfinite(x[i]) ? (std::clamp(std::nearbyint(x[i] * inv) + zp, clo, chi) - zp) * sc : x[i];
}

double GridQuantizer::lp_integral(double a, double b, double p) const {
  // In grid units t = x / scale the error is t - clamp(round(t), m_lo, m_hi); its p-th power
  // integrates in closed form: below m_lo - 1/2 and above m_hi + 1/2 it is a power of the
  // distance to the end code, in between a 1-periodic function with a known primitive.
  const double P = p + 1, m_lo = code_lo - zero_point, m_hi = code_hi - zero_point;
  const double ta = a / scale, tb = b / scale;
  const double cell = 2 * std::pow(0.5, P) / P;  // the integral over one code's cell
  auto primitive = [&](double t) {              // integral of |t - round(t)|^p from 0 to t
    const double n = std::floor(t + 0.5), r = t - n;
    return n * cell + std::copysign(std::pow(std::fabs(r), P) / P, r);
  };
  double sum = 0;
  const double low_edge = m_lo - 0.5, high_edge = m_hi + 0.5;
  if (ta < low_edge) {
    const double e = std::min(tb, low_edge);
    sum += (std::pow(m_lo - ta, P) - std::pow(m_lo - e, P)) / P;
  }
  if (tb > high_edge) {
    const double s = std::max(ta, high_edge);
    sum += (std::pow(tb - m_hi, P) - std::pow(s - m_hi, P)) / P;
  }
  const double t1 = std::max(ta, low_edge), t2 = std::min(tb, high_edge);
  if (t2 > t1) sum += primitive(t2) - primitive(t1);
  return sum * std::pow(scale, P);
}

double lp_error(const float* x, int64_t n, double lo, double hi, const LpSearch& s) {
  if (n == 0) return 0;
  const auto q = GridQuantizer::make(lo, hi, s.bits, s.symmetric);
  // Float arithmetic in the hot loop (weights: every value for every candidate).
  const float inv = static_cast<float>(1.0 / q.scale), sc = static_cast<float>(q.scale),
              zp = static_cast<float>(q.zero_point), clo = static_cast<float>(q.code_lo),
              chi = static_cast<float>(q.code_hi), p = static_cast<float>(s.p);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float code = std::clamp(std::nearbyint(x[i] * inv) + zp, clo, chi);
    const float e = std::fabs((code - zp) * sc - x[i]);
    if (e > 0) sum += std::pow(e, p);
  }
  return sum / static_cast<double>(n);
}

double lp_error(const ValueHistogram& h, double lo, double hi, const LpSearch& s) {
  const auto q = GridQuantizer::make(lo, hi, s.bits, s.symmetric);
  const int bins = static_cast<int>(h.counts.size());
  const double w = bins > 0 ? (h.hi - h.lo) / bins : 0;
  double sum = 0, total = 0;
  if (!(w > 0)) {  // all values equal: one point
    for (double c : h.counts) total += c;
    return total > 0 ? std::pow(std::fabs(q.apply(h.lo) - h.lo), s.p) : 0;
  }
  // One primitive H(t) of |t - code(t)|^p over the whole line (grid units t = x / scale), so
  // each bin's integral is a difference of H at its edges, each edge computed once.
  const double P = s.p + 1, m_lo = q.code_lo - q.zero_point, m_hi = q.code_hi - q.zero_point;
  const double cell = 2 * std::pow(0.5, P) / P, half = std::pow(0.5, P) / P;
  const double low_edge = m_lo - 0.5, high_edge = m_hi + 0.5;
  auto periodic = [&](double t) {
    const double n = std::floor(t + 0.5), r = t - n;
    return n * cell + std::copysign(std::pow(std::fabs(r), P) / P, r);
  };
  const double g_low = periodic(low_edge), g_high = periodic(high_edge);
  auto H = [&](double t) {
    if (t < low_edge) return g_low - (std::pow(m_lo - t, P) / P - half);
    if (t > high_edge) return g_high + (std::pow(t - m_hi, P) / P - half);
    return periodic(t);
  };
  const double inv = 1.0 / q.scale;
  double h_left = 0;
  bool have_left = false;
  for (int k = 0; k < bins; ++k) {
    const double c = h.counts[k];
    if (c == 0) {
      have_left = false;
      continue;
    }
    total += c;
    const double a = h.lo + k * w;
    if (!have_left) h_left = H(a * inv);
    const double h_right = H((a + w) * inv);
    sum += c * (h_right - h_left);
    h_left = h_right;
    have_left = true;
  }
  // Each bin's mean error is its integral over its width: scale^P / w per unit of H.
  return total > 0 ? sum * std::pow(q.scale, P) / w / total : 0;
}

namespace {

// The search of lp_search.h over an error function err(lo, hi).
template <typename Err>
LpClip search(double lo, double hi, const LpSearch& s, Err err) {
  DPL_CHECK(s.candidates >= 1, "a range search needs at least one candidate, got {}", s.candidates);
  const int n = s.candidates;
  LpClip best{static_cast<float>(lo), static_cast<float>(hi), err(lo, hi)};
  auto consider = [&](double l, double h) {
    const double e = err(l, h);
    if (e < best.error) best = {static_cast<float>(l), static_cast<float>(h), e};
  };
  // i from n down to 1 with a strict comparison: ties keep the wider clip.
  if (s.symmetric || lo >= 0 || hi <= 0) {
    const double amax = std::max(std::fabs(lo), std::fabs(hi));
    if (amax == 0) return best;
    for (int i = n - 1; i >= 1; --i) {
      const double c = amax * i / n;
      if (s.symmetric) consider(std::max(-c, lo), std::min(c, hi));
      else if (lo >= 0) consider(std::min(lo, c), c);
      else consider(-c, std::max(hi, -c));
    }
    return best;
  }
  for (int i = n - 1; i >= 1; --i) consider(lo * i / n, hi * i / n);
  for (int round = 0; round < 2; ++round) {
    const double l = best.lo;
    for (int i = n; i >= 1; --i) consider(l, hi * i / n);
    const double h = best.hi;
    for (int i = n; i >= 1; --i) consider(lo * i / n, h);
  }
  return best;
}

}  // namespace

LpClip search_lp_clip(const float* x, int64_t n, float lo, float hi, const LpSearch& s) {
  return search(lo, hi, s, [&](double l, double h) { return lp_error(x, n, l, h, s); });
}

LpClip search_lp_clip(const ValueHistogram& h, const LpSearch& s) {
  return search(h.lo, h.hi, s, [&](double l, double hh) { return lp_error(h, l, hh, s); });
}

LpClip search_clip(double lo, double hi, const LpSearch& s, const std::function<double(double, double)>& err) {
  return search(lo, hi, s, err);
}

}  // namespace dpl::calib
