// Pruning masks (train/sparse_mask.h): unstructured keeps the largest |w| with ties pruned;
// 2:4 zeroes exactly the two smallest of every 4 consecutive input channels.
#include <gtest/gtest.h>

#include <cmath>

#include "train/sparse_mask.h"

namespace dpl::train {
namespace {

TEST(SparseMask, UnstructuredPrunesTheSmallestAndTies) {
  const Tensor w = Tensor::from_vector<float>({2, 4}, {0.5f, -0.1f, 0.3f, -0.7f, 0.2f, 0.9f, -0.3f, 0.05f});
  EXPECT_EQ(unstructured_mask(w, 0.375), (std::vector<uint8_t>{1, 0, 1, 1, 0, 1, 1, 0}));  // k = 3
  // 0.3 and -0.3 tie as the 4th smallest: rate 0.5 (k = 4) prunes both.
  EXPECT_EQ(unstructured_mask(w, 0.5), (std::vector<uint8_t>{1, 0, 0, 1, 0, 1, 0, 0}));
  EXPECT_EQ(unstructured_mask(w, 0.1), std::vector<uint8_t>(8, 1));  // k = 0
}

TEST(SparseMask, Nv24KeepsTwoOfEveryFourInputChannels) {
  // A conv weight [O=2, I=8, 1, 2]: input channels along axis 1, groups at each (o, kw).
  std::vector<float> v(2 * 8 * 2);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(1.7f * static_cast<float>(i) + 0.3f);
  const Tensor w = Tensor::from_vector<float>({2, 8, 1, 2}, v);
  ASSERT_TRUE(nv24_applies(w, 1));
  const auto m = nv24_mask(w, 1);
  for (int o = 0; o < 2; ++o)
    for (int c0 = 0; c0 < 8; c0 += 4)
      for (int j = 0; j < 2; ++j) {
        int kept = 0;
        float min_kept = 1e9f, max_pruned = -1.f;
        for (int q = 0; q < 4; ++q) {
          const int i = (o * 8 + c0 + q) * 2 + j;
          kept += m[i];
          if (m[i]) min_kept = std::min(min_kept, std::fabs(v[i]));
          else max_pruned = std::max(max_pruned, std::fabs(v[i]));
        }
        EXPECT_EQ(kept, 2);
        EXPECT_GE(min_kept, max_pruned);
      }
  // Depthwise (one input channel per group) and 6 channels do not apply.
  EXPECT_FALSE(nv24_applies(Tensor::zeros(DType::F32, {8, 1, 3, 3}), 1));
  EXPECT_FALSE(nv24_applies(Tensor::zeros(DType::F32, {6, 4}), 0));
  EXPECT_THROW(nv24_mask(Tensor::zeros(DType::F32, {8, 1, 3, 3}), 1), Error);
}

}  // namespace
}  // namespace dpl::train
