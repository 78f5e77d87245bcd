// The range searches of docs/calibration.md: the Lp error of a grid against hand-computed
// values and numerical integration, the weight search (--w_range mse) on channels with an
// outlier, the histogram search against the exact one, TensorRT's KL threshold on
// hand-checked histograms.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "calib/act_range_search.h"
#include "calib/lp_search.h"
#include "calib/weight_range_search.h"
#include "graph/model_builder.h"

namespace dpl::test {
namespace {

using calib::GridQuantizer;
using calib::LpSearch;

LpSearch grid(int bits, bool symmetric) {
  LpSearch s;
  s.bits = bits;
  s.symmetric = symmetric;
  return s;
}

// The quantizer written out once more, plainly, for the brute-force checks.
double naive_q(double x, double lo, double hi, int bits, bool sym) {
  double scale, zp = 0, cmin, cmax;
  if (sym) {
    cmax = std::pow(2, bits - 1) - 1, cmin = -cmax;
    scale = std::max(std::fabs(lo), std::fabs(hi)) / cmax;
  } else {
    cmin = 0, cmax = std::pow(2, bits) - 1;
    const double l = std::min(0.0, lo), h = std::max(0.0, hi);
    scale = (h - l) / cmax;
    zp = std::nearbyint(-l / scale);
  }
  return (std::clamp(std::nearbyint(x / scale) + zp, cmin, cmax) - zp) * scale;
}

double naive_error(const std::vector<float>& v, double lo, double hi, int bits, bool sym) {
  double s = 0;
  for (float x : v) s += std::pow(std::fabs(naive_q(x, lo, hi, bits, sym) - x), 2.4);
  return s / v.size();
}

TEST(RangeSearch, LpErrorOfHandComputedCases) {
  // 2 bits symmetric: codes -1..1. Clip 1: 0.25 -> 0 (error 0.25), 1 exact.
  const std::vector<float> x = {0.25f, 1.f};
  EXPECT_NEAR(calib::lp_error(x.data(), 2, -1, 1, grid(2, true)), std::pow(0.25, 2.4) / 2, 1e-6 * std::pow(0.25, 2.4));
  // Clip 0.25: 0.25 exact, 1 saturates to 0.25 (error 0.75).
  EXPECT_NEAR(calib::lp_error(x.data(), 2, -0.25, 0.25, grid(2, true)), std::pow(0.75, 2.4) / 2, 1e-7);
  // 2 bits asymmetric over [0, 3]: scale 1, codes 0..3, every value exact.
  const std::vector<float> y = {0.f, 1.f, 3.f};
  EXPECT_EQ(calib::lp_error(y.data(), 3, 0, 3, grid(2, false)), 0.0);
  // ... over [-1, 2]: scale 1, zero point 1; 2.6 -> 2 (0.6), -1.2 -> -1 (0.2).
  const std::vector<float> z = {2.6f, -1.2f};
  EXPECT_NEAR(calib::lp_error(z.data(), 2, -1, 2, grid(2, false)), (std::pow(0.6, 2.4) + std::pow(0.2, 2.4)) / 2,
              1e-6);
}

TEST(RangeSearch, IntervalIntegralMatchesNumericalIntegration) {
  for (bool sym : {true, false})
    for (int bits : {2, 4, 8}) {
      const auto q = GridQuantizer::make(-0.7, 1.3, bits, sym);
      for (auto [a, b] : std::vector<std::pair<double, double>>{{-3, 4}, {-0.1, 0.05}, {0.2, 0.9}, {1.2, 2.5}}) {
        const int n = 200000;
        double num = 0;
        for (int i = 0; i < n; ++i) {
          const double x = a + (b - a) * (i + 0.5) / n;
          num += std::pow(std::fabs(q.apply(x) - x), 2.4);
        }
        num *= (b - a) / n;
        EXPECT_NEAR(q.lp_integral(a, b, 2.4), num, 1e-4 * num + 1e-12) << sym << " " << bits << " " << a << " " << b;
      }
    }
}

// 10000 values uniform in [-1, 1] and one outlier at 8: at 4 bits min/max rounds most of the
// bulk to 0 (scale 8/7), a clip near 1 costs the outlier (8 - 1)^2.4 / 10001 = 0.011 and
// leaves the bulk an error of about (1/14)^2.4 / 3.4 = 0.0005, against about 0.07 at min/max.
std::vector<float> channel_with_outlier() {
  std::vector<float> v;
  for (int i = 0; i < 10000; ++i) v.push_back(-1.f + 2.f * (i + 0.5f) / 10000.f);
  v.push_back(8.f);
  return v;
}

TEST(RangeSearch, OutlierChannelIsClippedBelowItsMaxWithASmallerError) {
  const auto v = channel_with_outlier();
  for (bool sym : {true, false}) {
    const auto s = grid(4, sym);
    const auto clip = calib::search_lp_clip(v.data(), v.size(), v.front(), 8.f, s);
    EXPECT_LT(clip.hi, 4.f) << sym;  // far below the outlier
    EXPECT_GT(clip.hi, 0.5f) << sym;
    const double at_minmax = naive_error(v, v.front(), 8, 4, sym), at_clip = naive_error(v, clip.lo, clip.hi, 4, sym);
    EXPECT_LT(at_clip, 0.5 * at_minmax) << sym;
    EXPECT_NEAR(clip.error, at_clip, 1e-6 * at_clip) << sym;
    // No candidate of the search's own ladder does better (brute force over 100 clips).
    if (!sym) continue;
    for (int i = 1; i <= 100; ++i) {
      const double c = 8.0 * i / 100;
      EXPECT_GE(naive_error(v, std::max(-c, static_cast<double>(v.front())), c, 4, true), at_clip * (1 - 1e-6)) << c;
    }
  }
}

TEST(RangeSearch, WeightRangesPerChannelClipOnlyTheChannelWithTheOutlier) {
  // Conv weight [2, 1, 1, 10001]: channel 0 has the outlier, channel 1 is the uniform bulk alone.
  const auto v = channel_with_outlier();
  const int n = static_cast<int>(v.size());
  Tensor w(DType::F32, {2, 1, 1, n});
  for (int i = 0; i < n; ++i) w.data<float>()[i] = v[i], w.data<float>()[n + i] = i + 1 < n ? v[i] : 0.f;
  const TensorGrid g{4, true, true};
  const ChannelRanges r = searched_weight_ranges("w", w, 0, g);
  ASSERT_EQ(r.lo.size(), 2u);
  EXPECT_LT(r.hi[0], 4.f);
  EXPECT_GT(r.hi[1], 0.9f);  // uniform values: the search keeps (nearly) the whole range
  // Per tensor: each channel's range clamped to one clip, whose reduction is that clip.
  const ChannelRanges t = searched_weight_ranges("w", w, 0, TensorGrid{4, true, false});
  const auto clip = calib::search_lp_clip(w.data<float>(), w.numel(), v.front(), 8.f, grid(4, true));
  EXPECT_EQ(std::max(t.hi[0], t.hi[1]), clip.hi);
  EXPECT_EQ(std::min(t.lo[0], t.lo[1]), clip.lo);
}

TEST(RangeSearch, NonFiniteWeightIsNamed) {
  Tensor w = Tensor::from_vector<float>({2, 2}, {1.f, NAN, 0.5f, 2.f});
  try {
    searched_weight_ranges("conv1.weight", w, 0, TensorGrid{});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.weight"), std::string::npos) << e.what();
  }
}

TEST(RangeSearch, WeightRangesOfAGraphSearchOnlyTheWeightInput) {
  ModelBuilder b(13);
  const auto v = channel_with_outlier();
  const int n = static_cast<int>(v.size());
  Tensor w(DType::F32, {2, 1, 1, n});
  for (int i = 0; i < n; ++i) w.data<float>()[i] = v[i], w.data<float>()[n + i] = v[i] * 0.5f;
  b.input("x", {1, 1, 1, n});
  b.init("w", w).init("bias", Tensor::from_vector<float>({2}, {-3.f, 5.f}));
  b.node("Conv", {"x", "w", "bias"}, {"y"}, "conv");
  b.output("y");
  WeightRangeOptions o;
  o.algo = WeightRangeAlgo::Mse;
  o.grid = {4, true, true};
  const WeightRanges r = weight_ranges(b.graph(), o), mm = weight_ranges(b.graph());
  EXPECT_LT(r.at("w").hi[0], mm.at("w").hi[0]);
  EXPECT_LT(r.at("w").hi[1], mm.at("w").hi[1]);
  EXPECT_EQ(r.at("bias").lo, mm.at("bias").lo);  // biases stay float: min/max kept
  // The plan's grid for one weight wins over the platform's: at 8 bits the clip is wider.
  o.tensor_grid["w"] = {8, true, true};
  EXPECT_GT(weight_ranges(b.graph(), o).at("w").hi[0], r.at("w").hi[0]);
  EXPECT_EQ(parse_weight_range_algo("mse"), WeightRangeAlgo::Mse);
  EXPECT_THROW(parse_weight_range_algo("kl"), Error);
}

// Heavy-tailed samples: a Laplace bulk, 0.1% outliers up to 40, shifted to be two-sided asymmetric.
std::vector<float> laplace_with_outliers(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<float> e(1.f);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v;
  for (int i = 0; i < n; ++i) {
    float x = (u(rng) < 0.5f ? -1.f : 1.f) * e(rng) + 0.7f;
    if (u(rng) < 0.001f) x = 10.f + 30.f * u(rng);
    v.push_back(x);
  }
  return v;
}

TEST(RangeSearch, HistogramSearchMatchesTheExactSearch) {
  const auto v = laplace_with_outliers(20000, 5);
  const float lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
  calib::ValueHistogram h{lo, hi, std::vector<double>(2048, 0.0)};
  for (float x : v) h.counts[std::min(2047, static_cast<int>((x - lo) * (2048 / (hi - lo))))] += 1;
  for (int bits : {8, 4})
    for (bool sym : {true, false}) {
      const auto s = grid(bits, sym);
      const auto exact = calib::search_lp_clip(v.data(), v.size(), lo, hi, s);
      const auto approx = calib::search_lp_clip(h, s);
      // The histogram's clip is as good as the exact one, measured exactly.
      const double e_exact = calib::lp_error(v.data(), v.size(), exact.lo, exact.hi, s);
      const double e_approx = calib::lp_error(v.data(), v.size(), approx.lo, approx.hi, s);
      EXPECT_LT(e_approx, e_exact * 1.01) << bits << " " << sym;
      EXPECT_NEAR(approx.hi, exact.hi, 0.05 * (hi - lo)) << bits << " " << sym;
      EXPECT_NEAR(approx.error, e_exact, 0.05 * e_exact) << bits << " " << sym;
    }
}

TEST(RangeSearch, KlKeepsAUniformBulkWithItsOutlierUnclipped) {
  // Bins 0..127 hold 100 each, bin 2047 one outlier: at i = 2048 the 128 groups of 16 bins
  // reproduce the distribution exactly (KL 0), any i in between puts the outlier into an empty
  // last bin (infinite KL), i = 128 loses the outlier's place.
  std::vector<uint64_t> c(2048, 0);
  for (int k = 0; k < 128; ++k) c[k] = 100;
  c[2047] = 1;
  EXPECT_EQ(kl_threshold_bin(c, 128), 2048);
  // Without the outlier every i > 128 merges unequal neighbours; i = 128 copies the bins (KL 0).
  std::vector<uint64_t> d(2048, 0);
  for (int k = 0; k < 128; ++k) d[k] = 128 - k;
  EXPECT_EQ(kl_threshold_bin(d, 128), 128);
  // 4 bits: 8 levels over 8 nonzero, unequal bins: i = 8 copies them, any larger i merges two.
  std::vector<uint64_t> e(64, 0);
  for (int k = 0; k < 8; ++k) e[k] = 1000 >> k;
  EXPECT_EQ(kl_threshold_bin(e, 8), 8);
  EXPECT_EQ(kl_threshold_bin(std::vector<uint64_t>(4, 1), 8), 4);  // fewer bins than levels
}

}  // namespace
}  // namespace dpl::test
