// train/soft_rounding: AdaRound's rectified-sigmoid rounding. Checked: the first soft weight
// is the weight itself (clamped to the grid), hard weights are integer multiples of their
// channel's step inside the grid (per channel on any axis, and per tensor, where the
// original forgets the clamp), the first hard rounding is round-to-nearest, and dL/dV
// matches central differences of L(V) = sum(G * soft(V)) + lambda * regulariser(V).
#include <gtest/gtest.h>

#include <cmath>

#include "graph/model_builder.h"
#include "train/soft_rounding.h"

namespace dpl::test {
namespace {

// [2, 3, 2] weight, channels along axis 1 with steps 0.1, 0.05, 0.2; codes -8..7.
train::WeightGrid axis1_grid() {
  train::WeightGrid g;
  g.axis = 1;
  g.scale = {0.1f, 0.05f, 0.2f};
  g.lo = {-8, -8, -8};
  g.hi = {7, 7, 7};
  return g;
}

// The integer k with v = k * s exactly (float multiplication), or NaN.
double code_of(float v, float s) {
  const double k = std::nearbyint(static_cast<double>(v) / s);
  return static_cast<float>(k) * s == v ? k : std::nan("");
}

TEST(SoftRounding, StartsAtTheWeightAndHardRoundsToNearestOnTheGrid) {
  Tensor w = random_tensor({2, 3, 2}, 3, -1.5f, 1.5f);
  w.data<float>()[0] = 5.f;  // beyond channel 0's grid end 0.7
  const train::WeightGrid grid = axis1_grid();
  train::SoftRounding sr(w, grid);
  const Tensor soft = sr.soft(), hard = sr.hard(), nearest = sr.nearest();
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int c = static_cast<int>((i / 2) % 3);
    const float s = grid.scale[c];
    const float x = w.data<float>()[i];
    const float want = std::min(grid.hi[c] * s, std::max(grid.lo[c] * s, x));
    EXPECT_NEAR(soft.data<float>()[i], want, 1e-5) << i;
    const double k = code_of(hard.data<float>()[i], s);
    ASSERT_FALSE(std::isnan(k)) << "element " << i << " = " << hard.data<float>()[i] << " is off channel " << c
                                << "'s grid";
    EXPECT_GE(k, grid.lo[c]);
    EXPECT_LE(k, grid.hi[c]);
    EXPECT_EQ(hard.data<float>()[i], nearest.data<float>()[i]) << "V0 >= 0 exactly when the rest is >= 0.5";
    EXPECT_EQ(k, std::min<double>(grid.hi[c], std::max<double>(grid.lo[c], std::floor(x / s + 0.5)))) << i;
  }
  const auto counts = sr.counts();
  EXPECT_EQ(counts.up + counts.down, w.numel());
  EXPECT_EQ(counts.changed, 0);
}

TEST(SoftRounding, PerTensorGridsAreClampedToo) {
  // The original's per-tensor branch drops the clamp; one grid 0.25 * [-2, 1] here.
  Tensor w = Tensor::from_vector<float>({4}, {-3.f, -0.3f, 0.1f, 2.f});
  train::WeightGrid g;
  g.scale = {0.25f};
  g.lo = {-2};
  g.hi = {1};
  train::SoftRounding sr(w, g);
  sr.v().assign(4, 5.f);  // every weight rounds up
  const Tensor h = sr.hard();
  EXPECT_EQ(h.to_f32_vector(), (std::vector<float>{-0.5f, -0.25f, 0.25f, 0.25f}));
  const Tensor s = sr.soft();
  EXPECT_FLOAT_EQ(s.data<float>()[0], -0.5f);
  EXPECT_FLOAT_EQ(s.data<float>()[3], 0.25f);
}

TEST(SoftRounding, GradientMatchesCentralDifferences) {
  Tensor w = random_tensor({2, 3, 2}, 11, -0.6f, 0.6f);
  const train::WeightGrid grid = axis1_grid();
  train::SoftRounding sr(w, grid);
  // V in the sigmoid's sloped part, so h is not clamped within a step.
  const Tensor vv = random_tensor({12}, 12, -1.5f, 1.5f);
  for (int64_t i = 0; i < 12; ++i) sr.v()[static_cast<size_t>(i)] = vv.data<float>()[i];
  const Tensor G = random_tensor({2, 3, 2}, 13, -1.f, 1.f);
  const Tensor zero = Tensor::zeros(DType::F32, {2, 3, 2});
  for (double beta : {0.0, 2.0, 9.5}) {
    const double lambda = 0.3;
    auto objective = [&](train::SoftRounding& r) {
      std::vector<float> unused;
      double l = r.grad_v(zero, beta, lambda, unused);  // the regulariser's value
      const Tensor s = r.soft();
      for (int64_t i = 0; i < s.numel(); ++i) l += static_cast<double>(G.data<float>()[i]) * s.data<float>()[i];
      return l;
    };
    std::vector<float> gv;
    sr.grad_v(G, beta, lambda, gv);
    for (int64_t i = 0; i < 12; ++i) {
      const float v0 = sr.v()[static_cast<size_t>(i)];
      const float h = 1e-2f;
      sr.v()[static_cast<size_t>(i)] = v0 + h;
      const double lp = objective(sr);
      const float vp = sr.v()[static_cast<size_t>(i)];
      sr.v()[static_cast<size_t>(i)] = v0 - h;
      const double lm = objective(sr);
      const float vm = sr.v()[static_cast<size_t>(i)];
      sr.v()[static_cast<size_t>(i)] = v0;
      const double d = (lp - lm) / (static_cast<double>(vp) - vm);
      EXPECT_NEAR(gv[static_cast<size_t>(i)], d, 2e-4 + 2e-2 * std::fabs(d)) << "beta " << beta << " element " << i;
    }
  }
}

TEST(SoftRounding, RefusesAGridThatDoesNotFitTheWeight) {
  Tensor w = random_tensor({2, 3, 2}, 3, -1.f, 1.f);
  train::WeightGrid g = axis1_grid();
  g.axis = 0;  // 2 channels, 3 grids
  EXPECT_THROW(train::SoftRounding(w, g), std::exception);
  g = axis1_grid();
  g.scale[1] = 0;
  EXPECT_THROW(train::SoftRounding(w, g), std::exception);
}

}  // namespace
}  // namespace dpl::test
