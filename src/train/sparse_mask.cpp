#include "train/sparse_mask.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace dpl::train {

std::vector<uint8_t> unstructured_mask(const Tensor& w, double rate) {
  const int64_t n = w.numel();
  const float* p = w.data<float>();
  std::vector<uint8_t> mask(n, 1);
  const auto k = static_cast<int64_t>(std::floor(rate * static_cast<double>(n)));
  if (k <= 0) return mask;
  std::vector<float> mag(n);
  for (int64_t i = 0; i < n; ++i) mag[i] = std::fabs(p[i]);
  std::vector<float> sorted = mag;
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end());
  const float threshold = sorted[k - 1];
  for (int64_t i = 0; i < n; ++i) mask[i] = mag[i] > threshold;
  return mask;
}

bool nv24_applies(const Tensor& w, int in_axis) {
  return in_axis >= 0 && in_axis < static_cast<int>(w.shape().size()) && w.dim(in_axis) % 4 == 0;
}

std::vector<uint8_t> nv24_mask(const Tensor& w, int in_axis) {
  DPL_CHECK(nv24_applies(w, in_axis), "2:4 sparsity needs a multiple of 4 input channels along axis {}, got shape {}",
            in_axis, shape_str(w.shape()));
  const Shape& s = w.shape();
  int64_t outer = 1, inner = 1;
  for (int a = 0; a < in_axis; ++a) outer *= s[a];
  for (size_t a = in_axis + 1; a < s.size(); ++a) inner *= s[a];
  const int64_t c = s[in_axis];
  const float* p = w.data<float>();
  std::vector<uint8_t> mask(w.numel(), 1);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c0 = 0; c0 < c; c0 += 4)
      for (int64_t j = 0; j < inner; ++j) {
        int64_t idx[4];
        for (int q = 0; q < 4; ++q) idx[q] = (o * c + c0 + q) * inner + j;
        // The two smallest |w|: a stable sort of the 4 by magnitude.
        std::stable_sort(idx, idx + 4, [&](int64_t a, int64_t b) { return std::fabs(p[a]) < std::fabs(p[b]); });
        mask[idx[0]] = mask[idx[1]] = 0;
      }
  return mask;
}

}  // namespace dpl::train
