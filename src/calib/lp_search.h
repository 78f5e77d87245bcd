// The Lp clip search shared by weight ranges (--w_range mse) and activation ranges (-A lp,
// -A output): among candidate clip ranges, the one whose quantization grid gives the smallest
// mean |Q(x) - x|^p (p = 2.4 by default, as the MQBench/QDrop MSE observers), see
// docs/calibration.md. The grid arithmetic is the QDQ builder's (docs/spec.md 6): symmetric
// ranges use codes -(2^(b-1)-1)..2^(b-1)-1 with scale max(|lo|,|hi|)/(2^(b-1)-1); asymmetric
// ranges are widened to hold 0, scale (hi-lo)/(2^b-1), zero point round(-lo/scale).
//
// The error is measured on exact values (weights) or on a histogram (activations, summed over
// all samples), where each bin's count is taken as spread evenly over the bin and the error
// integrated in closed form over it, so coarse bins do not alias with the grid.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace dpl::calib {

// The fake quantizer of one clip range on a grid of `bits` bits.
struct GridQuantizer {
  double scale = 1, zero_point = 0;
  double code_lo = 0, code_hi = 0;  // clamp bounds in codes
  static GridQuantizer make(double lo, double hi, int bits, bool symmetric);
  // round half to even, as QuantizeLinear.
  double apply(double x) const;
  // Integral of |Q(x) - x|^p over x in [a, b] (a <= b).
  double lp_integral(double a, double b, double p) const;
  // y = Q(x) for n values in float arithmetic (non-finite values pass unchanged).
  void apply(const float* x, float* y, int64_t n) const;
};

// A histogram of values: `counts[k]` values in [lo + k w, lo + (k+1) w), w = (hi - lo) / bins.
struct ValueHistogram {
  double lo = 0, hi = 0;
  std::vector<double> counts;
};

struct LpSearch {
  int bits = 8;
  bool symmetric = true;
  double p = 2.4;
  int candidates = 100;
};

struct LpClip {
  float lo = 0, hi = 0;
  double error = 0;  // mean |Q(x) - x|^p at this clip
};

// Mean |Q(x) - x|^p of n exact values / of a histogram, for the clip [lo, hi].
double lp_error(const float* x, int64_t n, double lo, double hi, const LpSearch& s);
double lp_error(const ValueHistogram& h, double lo, double hi, const LpSearch& s);

// The best clip within [lo, hi] (the data's min and max) for exact values / a histogram.
// Symmetric grids: c = amax * i / candidates, i = 1..candidates, range [max(-c, lo), min(c, hi)].
// Asymmetric grids: one-sided data ([0, hi] or [lo, 0]) searches the far end the same way;
// two-sided data shrinks both ends together (t = i / candidates), then refines the high end
// with the low end fixed and the low end with the high end fixed, twice.
// Ties keep the wider clip. An all-zero or empty input returns [lo, hi].
LpClip search_lp_clip(const float* x, int64_t n, float lo, float hi, const LpSearch& s);
LpClip search_lp_clip(const ValueHistogram& h, const LpSearch& s);
// The same candidates scored by another error, err(lo, hi) (--w_range output); `s.p` unused.
LpClip search_clip(double lo, double hi, const LpSearch& s, const std::function<double(double, double)>& err);

}  // namespace dpl::calib
