// Coordinate mapping and tap weights of Resize (see resize_tables.h): the ONNX coordinate
// transformation modes, nearest rounding modes, cubic weights, and the detection of the
// periodic interior of integer upsampling.
#include "runtime/ops/resize_tables.h"

#include <cmath>

#include "util/error.h"

namespace dpl::resize {

namespace {

double source_coord(const ResizeAttrs& a, int64_t o, int64_t in, double scale, double len_out, double r0, double r1,
                    bool& outside) {
  const double x = static_cast<double>(o);
  outside = false;
  switch (a.coord) {
    case Coord::HalfPixel: return (x + 0.5) / scale - 0.5;
    case Coord::PytorchHalfPixel: return len_out > 1.0 ? (x + 0.5) / scale - 0.5 : 0.0;
    case Coord::AlignCorners: return len_out == 1.0 ? 0.0 : x * static_cast<double>(in - 1) / (len_out - 1.0);
    case Coord::Asymmetric: return x / scale;
    case Coord::TfHalfPixelForNN: return (x + 0.5) / scale;
    case Coord::TfCropAndResize: {
      const double span = static_cast<double>(in - 1);
      const double v = len_out > 1.0 ? r0 * span + x * (r1 - r0) * span / (len_out - 1.0) : 0.5 * (r0 + r1) * span;
      outside = v < 0.0 || v > span;
      return v;
    }
  }
  return 0.0;
}

int64_t nearest_index(Round r, double x, bool downsampling) {
  const double fl = std::floor(x);
  if (x == fl) return static_cast<int64_t>(fl);
  const double frac = x - fl;
  switch (r) {
    case Round::PreferFloor: return static_cast<int64_t>(frac <= 0.5 ? fl : fl + 1);
    case Round::PreferCeil: return static_cast<int64_t>(frac < 0.5 ? fl : fl + 1);
    case Round::Floor: return static_cast<int64_t>(fl);
    case Round::Ceil: return static_cast<int64_t>(fl + 1);
    case Round::Simple: return downsampling ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(x);
  }
  return 0;
}

void cubic_weights(double r, double A, double* c) {
  const double r1 = r + 1, r2 = 1 - r, r3 = 2 - r;
  c[0] = ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A;
  c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
  c[2] = ((A + 2) * r2 - (A + 3)) * r2 * r2 + 1;
  c[3] = ((A * r3 - 5 * A) * r3 + 8 * A) * r3 - 4 * A;
}

// Detects the periodic interior of an integer upsampling table (see AxisTable::period).
void find_period(AxisTable& t) {
  if (t.in < 4 || t.out % t.in != 0) return;
  const int64_t k = t.out / t.in;
  if (k != 2 && k != 3 && k != 4 && k != 8) return;
  const int K = t.taps;
  const int64_t mid = t.in / 2;
  std::vector<int64_t> d(K * k);
  std::vector<double> w(K * k);
  for (int64_t p = 0; p < k; ++p)
    for (int q = 0; q < K; ++q) {
      d[q * k + p] = t.idx[(mid * k + p) * K + q] - mid;
      w[q * k + p] = t.w[(mid * k + p) * K + q];
    }
  auto matches = [&](int64_t i) {
    for (int64_t p = 0; p < k; ++p) {
      const int64_t o = i * k + p;
      if (t.outside[o]) return false;
      for (int q = 0; q < K; ++q) {
        const int64_t src = i + d[q * k + p];
        // Unclamped position and (up to rounding) the same weight.
        if (src < 0 || src >= t.in || t.idx[o * K + q] != src) return false;
        if (std::fabs(t.w[o * K + q] - w[q * k + p]) > 1e-9) return false;
      }
    }
    return true;
  };
  if (!matches(mid)) return;
  int64_t lo = mid, hi = mid + 1;
  while (lo > 0 && matches(lo - 1)) --lo;
  while (hi < t.in && matches(hi)) ++hi;
  if (hi - lo < 2) return;
  t.period = k;
  t.per_lo = lo;
  t.per_hi = hi;
  t.per_d = std::move(d);
  t.per_w = std::move(w);
}

}  // namespace

AxisTable build_axis(const ResizeAttrs& a, int64_t in, int64_t out, double scale, double len_out, double r0,
                     double r1) {
  AxisTable t;
  t.in = in;
  t.out = out;
  t.taps = a.mode == Mode::Nearest ? 1 : a.mode == Mode::Linear ? 2 : 4;
  t.idx.assign(out * t.taps, 0);
  t.w.assign(out * t.taps, 0.0);
  t.outside.assign(out, 0);
  auto clampi = [in](int64_t i) { return i < 0 ? int64_t{0} : i >= in ? in - 1 : i; };
  for (int64_t o = 0; o < out; ++o) {
    bool outside = false;
    const double x = source_coord(a, o, in, scale, len_out, r0, r1, outside);
    t.outside[o] = outside;
    int64_t* ip = &t.idx[o * t.taps];
    double* wp = &t.w[o * t.taps];
    if (in == 0) continue;
    if (a.mode == Mode::Nearest) {
      ip[0] = clampi(nearest_index(a.round, x, scale < 1.0));
      wp[0] = 1.0;
    } else {
      const double fl = std::floor(x);
      const double r = x - fl;
      const int64_t x0 = static_cast<int64_t>(fl);
      if (a.mode == Mode::Linear) {
        ip[0] = clampi(x0);
        ip[1] = clampi(x0 + 1);
        wp[0] = 1.0 - r;
        wp[1] = r;
      } else {
        cubic_weights(r, a.cubic_a, wp);
        double sum = 0;
        for (int k = 0; k < 4; ++k) {
          const int64_t p = x0 - 1 + k;
          if (a.exclude_outside && (p < 0 || p >= in)) wp[k] = 0.0;
          sum += wp[k];
          ip[k] = clampi(p);
        }
        if (a.exclude_outside && sum != 0.0)
          for (int k = 0; k < 4; ++k) wp[k] /= sum;
      }
    }
  }
  // Identity: every output reads exactly its own position (weights at grid points are
  // exactly 0 and 1).
  t.identity = in == out;
  for (int64_t o = 0; o < out && t.identity; ++o) {
    double on = 0, off = 0;
    for (int k = 0; k < t.taps; ++k) (t.idx[o * t.taps + k] == o ? on : off) += std::fabs(t.w[o * t.taps + k]);
    t.identity = !t.outside[o] && on == 1.0 && off == 0.0;
  }
  if (a.mode == Mode::Nearest && in > 0 && out % in == 0 && out > in) {
    const int64_t k = out / in;
    bool rep = true;
    for (int64_t o = 0; o < out && rep; ++o) rep = !t.outside[o] && t.idx[o] == o / k;
    if (rep) t.repeat = k;
  }
  DPL_CHECK(in <= INT32_MAX, "Resize: axis of {} elements is too long", in);
  find_period(t);
  t.idx_tm.resize(t.idx.size());
  for (int64_t o = 0; o < out; ++o) {
    t.any_outside = t.any_outside || t.outside[o];
    for (int k = 0; k < t.taps; ++k) t.idx_tm[k * out + o] = static_cast<int32_t>(t.idx[o * t.taps + k]);
  }
  return t;
}

}  // namespace dpl::resize
