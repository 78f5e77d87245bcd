// Mean and population variance of one contiguous row, accumulated in double (two passes:
// the mean, then the squared deviations from it). Shared by InstanceNormalization and
// LayerNormalization; their backward passes reuse the same statistics.
#pragma once
#include <cstdint>

namespace dpl {

struct RowMoments {
  double mean = 0.0, var = 0.0;  // both 0 for an empty row
};

template <typename T>
inline RowMoments row_moments(const T* x, int64_t n) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(x[j]);
  RowMoments m;
  m.mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  const double mean = m.mean;
  double sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < n; ++j) {
    const double d = static_cast<double>(x[j]) - mean;
    sq += d * d;
  }
  m.var = n > 0 ? sq / static_cast<double>(n) : 0.0;
  return m;
}

}  // namespace dpl
