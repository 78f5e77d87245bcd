// The loops behind the observers: min/max, |x| histogram and OCTAV's Newton iteration over
// float data. Non-finite values (NaN, +-Inf) are ignored by all of them.
//
// Work is cut into fixed blocks of kStatBlock elements whose partial results are combined
// in block order, so every result is the same whatever the thread count and however the
// samples are batched (sums included, bit for bit).
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "calib/page_buffer.h"

namespace dpl::calib {

constexpr int64_t kStatBlock = 16384;

struct MinMaxF {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  bool empty() const { return !(lo <= hi); }
  void add(const MinMaxF& o) {
    lo = o.lo < lo ? o.lo : lo;
    hi = o.hi > hi ? o.hi : hi;
  }
};
// Observers' state holds a MinMaxF as its bytes: lo, then hi.
static_assert(sizeof(MinMaxF) == 2 * sizeof(float) && offsetof(MinMaxF, hi) == sizeof(float));

// Min and max of the finite values (empty() when there is none).
MinMaxF finite_minmax(const float* p, int64_t n);

// Adds the histogram of the finite |x| to counts[0..bins): bin k = floor(|x| * bins / amax),
// computed in float as |x| * (float(bins) / amax), clamped to bins - 1 (|x| > amax lands in
// the last bin). amax <= 0 (an all-zero tensor): every finite value goes to bin 0.
void abs_histogram(const float* p, int64_t n, float amax, int bins, uint64_t* counts);

// The same bins, but values in bins below `from` are only counted, into *below: the
// histogram's bulk costs a compare per value, and only the tail is binned one by one.
void abs_histogram_tail(const float* p, int64_t n, float amax, int bins, int from, uint64_t* counts, uint64_t* below);

// OCTAV (docs/spec.md 4, "mse") on one sample's values.
struct OctavResult {
  double s = 0;     // the clip; NaN when the sample has no nonzero finite value (as the original)
  MinMaxF range;    // min/max of the finite values
  int steps = 0;    // Newton steps computed
};
// `parts` consecutive samples of `part_size` elements each: the clip of each, with
// eps = 4^-bits / 3 / u, u = 4 when dynamic_sym and |min| < 1e-6, else 1. `scratch` is
// working memory (grown to parts * part_size floats), kept by the caller between calls.
std::vector<OctavResult> octav_clip(const float* p, int64_t parts, int64_t part_size, int bits, bool dynamic_sym,
                                    PageBuffer<float>& scratch);
inline std::vector<OctavResult> octav_clip(const float* p, int64_t parts, int64_t part_size, int bits,
                                           bool dynamic_sym) {
  PageBuffer<float> scratch;
  return octav_clip(p, parts, part_size, bits, dynamic_sym, scratch);
}

}  // namespace dpl::calib
