// Error statistics of profiling (profile/layer_stats.h) on values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "graph/model_builder.h"
#include "profile/layer_stats.h"

namespace dpl::test {
namespace {

Tensor vec(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }

TEST(LayerStats, OneSampleByHand) {
  // x = [1, 2, 3], y = [1, 2, 4]: x.y = 17, |x|^2 = 14, |y|^2 = 21, |x - y|^2 = 1.
  ErrorStats s;
  s.add_batch(vec({1, 3}, {1, 2, 3}), vec({1, 3}, {1, 2, 4}), 1);
  EXPECT_EQ(s.samples(), 1);
  EXPECT_NEAR(s.mean_cosine(), 17.0 / std::sqrt(14.0 * 21.0), 1e-12);
  EXPECT_NEAR(s.min_cosine(), 17.0 / std::sqrt(14.0 * 21.0), 1e-12);
  EXPECT_NEAR(s.rel_mse(), 1.0 / 14.0, 1e-12);
  EXPECT_NEAR(s.sqnr_db(), 10.0 * std::log10(14.0), 1e-9);
}

TEST(LayerStats, BatchRowsAreSamplesAndPooledCosineStacksThem) {
  // Sample 0: x = [3, 4], y = [4, 3] (cos 24/25); sample 1: x = [1, 0], y = [2, 0] (cos 1).
  ErrorStats s;
  s.add_batch(vec({2, 2}, {3, 4, 1, 0}), vec({2, 2}, {4, 3, 2, 0}), 2);
  EXPECT_EQ(s.samples(), 2);
  EXPECT_NEAR(s.mean_cosine(), (24.0 / 25.0 + 1.0) / 2, 1e-12);
  EXPECT_NEAR(s.min_cosine(), 24.0 / 25.0, 1e-12);
  // Stacked: x.y = 24 + 2 = 26, |x|^2 = 26, |y|^2 = 29.
  EXPECT_NEAR(s.pooled_cosine(), 26.0 / std::sqrt(26.0 * 29.0), 1e-12);
  // Errors: (1 + 1) + 1 = 3 over signal 26.
  EXPECT_NEAR(s.rel_mse(), 3.0 / 26.0, 1e-12);
}

TEST(LayerStats, MergeEqualsOneAccumulator) {
  Tensor a = random_tensor({4, 1000}, 1, -3, 3), b = random_tensor({4, 1000}, 2, -3, 3);
  ErrorStats all, first, second;
  all.add_batch(a, b, 4);
  first.add_batch(a.slice_rows(0, 1), b.slice_rows(0, 1), 1);
  second.add_batch(a.slice_rows(1, 3), b.slice_rows(1, 3), 3);
  first.merge(second);
  EXPECT_EQ(first.samples(), 4);
  EXPECT_NEAR(first.mean_cosine(), all.mean_cosine(), 1e-12);
  EXPECT_EQ(first.min_cosine(), all.min_cosine());
  EXPECT_NEAR(first.sqnr_db(), all.sqnr_db(), 1e-9);
  EXPECT_NEAR(first.pooled_cosine(), all.pooled_cosine(), 1e-12);
}

TEST(LayerStats, ZeroDotProductGivesCosineZeroAsTheOriginal) {
  // The original's cos_similarity returns 0 when sum(a*b) == 0, also for two all-zero tensors.
  ErrorStats s;
  s.add_batch(vec({1, 2}, {0, 0}), vec({1, 2}, {0, 0}), 1);
  EXPECT_EQ(s.mean_cosine(), 0.0);
  EXPECT_TRUE(std::isinf(s.sqnr_db()) && s.sqnr_db() > 0);  // no error at all
  EXPECT_EQ(s.rel_mse(), 0.0);
}

TEST(LayerStats, LargeTensorsMatchADoubleReference) {
  // Several blocks of the parallel reduction, values with a large common offset.
  Tensor a = random_tensor({1, 100003}, 3, 99, 101), b = random_tensor({1, 100003}, 4, 99, 101);
  double dot = 0, xx = 0, yy = 0, ee = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    dot += x * y, xx += x * x, yy += y * y, ee += (x - y) * (x - y);
  }
  PairSums s = pair_sums(a.data<float>(), b.data<float>(), a.numel());
  EXPECT_NEAR(s.dot / dot, 1.0, 1e-7);
  EXPECT_NEAR(s.ee / ee, 1.0, 1e-6);
  EXPECT_NEAR(sample_cosine(s), dot / std::sqrt(xx * yy), 1e-7);
}

}  // namespace
}  // namespace dpl::test
