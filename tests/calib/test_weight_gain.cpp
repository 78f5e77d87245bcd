// The searched weight ranges' gain correction (docs/calibration.md, "Gain correction"): the
// gain each search reports is <w, w> / <w, Q(w)> in the inner product of its error, the
// gain-corrected error is uncorrelated with the layer's output on the very samples whose
// moments the search read, the chosen clip is the candidate with the smallest such error on
// those samples, and the weights the gains are put into quantize, on their new ranges, to the
// codes the search chose (per channel and per tensor, symmetric and asymmetric grids).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "calib/lp_search.h"
#include "calib/observer_moments.h"
#include "calib/weight_range_search.h"
#include "graph/model_builder.h"
#include "transform/weight_gain.h"

namespace dpl::test {
namespace {

// `channels` x `k` weights, Laplace-like with a few large values per channel (what 4-bit
// searches clip).
Tensor heavy_tailed_weights(int64_t channels, int64_t k, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<float> e(4.f);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  Tensor t(DType::F32, {channels, k});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = (u(rng) < 0.5f ? -1.f : 1.f) * e(rng);
  for (int64_t c = 0; c < channels; ++c) t.data<float>()[c * k + (c % k)] = 1.5f + 0.1f * static_cast<float>(c);
  return t;
}

TEST(WeightGain, TheLpSearchReportsTheUnbiasingGainOfTheClipItChose) {
  const Tensor w = heavy_tailed_weights(6, 40, 3);
  const TensorGrid g{4, true, true};
  std::vector<float> gain;
  const ChannelRanges r = searched_weight_ranges("w", w, 0, g, {}, &gain);
  ASSERT_EQ(gain.size(), 6u);
  int clipped = 0;
  for (int64_t c = 0; c < 6; ++c) {
    const auto q = calib::GridQuantizer::make(r.lo[c], r.hi[c], 4, true);
    double ww = 0, wd = 0;
    for (int64_t j = 0; j < 40; ++j) {
      const double v = w.data<float>()[c * 40 + j];
      ww += v * v;
      wd += v * q.apply(v);
    }
    EXPECT_NEAR(gain[c], ww / wd, 1e-6 * ww / wd) << c;
    // The error after the gain is orthogonal to the weights: <w, xi Q(w) - w> = 0.
    EXPECT_NEAR(gain[c] * wd - ww, 0.0, 1e-6 * ww) << c;
    if (r.hi[c] < 1.5f) {  // a clip shrinks: the gain enlarges
      ++clipped;
      EXPECT_GT(gain[c], 1.0f) << c;
    }
  }
  EXPECT_GT(clipped, 0);
  // Without the gain the search is the plain Lp one.
  const ChannelRanges plain = searched_weight_ranges("w", w, 0, g);
  for (int64_t c = 0; c < 6; ++c) {
    const float* v = w.data<float>() + c * 40;
    const auto clip = calib::search_lp_clip(v, 40, *std::min_element(v, v + 40), *std::max_element(v, v + 40),
                                            calib::LpSearch{4, true});
    EXPECT_FLOAT_EQ(plain.hi[c], clip.hi) << c;
  }
}

TEST(WeightGain, OnTheSamplesTheGainedErrorIsUncorrelatedWithTheOutputAndTheSmallestOfTheLadder) {
  // Correlated inputs with nonzero means; their second-moment matrix from the observer.
  constexpr int kK = 48, kSamples = 1500;
  std::mt19937_64 rng(9);
  std::normal_distribution<float> n(0.f, 1.f);
  Tensor x(DType::F32, {kSamples, kK});
  for (int i = 0; i < kSamples; ++i) {
    const float z = n(rng);
    for (int k = 0; k < kK; ++k) x.data<float>()[i * kK + k] = 0.4f + (k % 3 ? z : -z) + 0.3f * n(rng);
  }
  ChannelMomentsObserver o({{"x", -1}}, {"x"});
  o.observe("x", x, kSamples);
  const ChannelMoments m = o.moments().at("x");
  const Tensor w = heavy_tailed_weights(1, kK, 5);
  std::vector<int32_t> ic(kK);
  for (int k = 0; k < kK; ++k) ic[k] = k;
  // Sample sums of y^2, y yq and yq^2 for y = w.x and yq = Q(w).x on the clip [-c, c].
  struct Sums {
    double yy = 0, yq = 0, qq = 0;
  };
  auto sums = [&](double c) {
    const auto q = calib::GridQuantizer::make(-c, c, 4, true);
    Sums s;
    for (int i = 0; i < kSamples; ++i) {
      double y = 0, yq = 0;
      for (int k = 0; k < kK; ++k) {
        const double v = x.data<float>()[i * kK + k], wk = w.data<float>()[k];
        y += wk * v;
        yq += q.apply(wk) * v;
      }
      s.yy += y * y, s.yq += y * yq, s.qq += yq * yq;
    }
    return s;
  };
  std::vector<float> gain;
  const ChannelRanges r = output_aware_weight_ranges("w", w, 0, TensorGrid{4, true, true}, ic, m, {}, &gain);
  ASSERT_EQ(gain.size(), 1u);
  const Sums chosen = sums(r.hi[0]);
  // The gain is the samples' <y, y> / <y, yq>, and the corrected output's error is
  // uncorrelated with y: sum y (xi yq - y) = 0.
  EXPECT_NEAR(gain[0], chosen.yy / chosen.yq, 1e-4);
  EXPECT_NEAR(gain[0] * chosen.yq - chosen.yy, 0.0, 1e-4 * chosen.yy);
  // Uncorrected, the clip shrinks the output: it is correlated with y, negatively.
  EXPECT_LT(chosen.yq - chosen.yy, -1e-3 * chosen.yy);
  // Each candidate's error after its own gain: xi^2 qq - yy with xi = yy / yq.
  auto unbiased_error = [&](const Sums& s) { return s.yy * s.yy / (s.yq * s.yq) * s.qq - s.yy; };
  const double amax = 1.5;
  for (int i = 1; i <= 100; ++i) {
    const Sums s = sums(amax * i / 100);
    if (s.yq > 0) {
      EXPECT_LE(unbiased_error(chosen), unbiased_error(s) * (1 + 1e-4) + 1e-9) << i;
    }
  }
}

TEST(WeightGain, ConvolutionGainsAreTheSamplesUnbiasingGains) {
  // A 3x3 convolution over two input channels of smooth images with means (the window
  // autocorrelation form), and the same weights as a 1x1 layer's (the per-channel form, inputs
  // independent across channels): the gain each reports is the samples' <y, y> / <y, yq> up
  // to the border, which the stationary statistics do not see.
  const int S = 48, C = 2, H = 20, W = 20;
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<float> u(0.f, 6.2831853f);
  Tensor x(DType::F32, {S, C, H, W});
  for (int s = 0; s < S; ++s)
    for (int c = 0; c < C; ++c) {
      const float p1 = u(rng), p2 = u(rng);
      for (int h = 0; h < H; ++h)
        for (int w = 0; w < W; ++w)
          x.data<float>()[((s * C + c) * H + h) * W + w] =
              (c ? -0.3f : 0.7f) + std::sin(0.35f * h + p1) + (c + 1) * std::cos(0.3f * w + p2);
    }
  auto px = [&](int s, int c, int h, int w) { return static_cast<double>(x.data<float>()[((s * C + c) * H + h) * W + w]); };
  const Tensor wt = heavy_tailed_weights(1, C * 9, 21);
  std::vector<int32_t> ic(C * 9);
  for (int i = 0; i < C * 9; ++i) ic[i] = i / 9;
  ChannelMomentsObserver o({{"x", 1}}, {}, {{"x", {3, 3, 1, 1}}});
  o.observe("x", x, S);
  std::vector<float> gain;
  const Tensor w4 = Tensor::from_vector<float>({1, C, 3, 3}, std::vector<float>(wt.data<float>(), wt.data<float>() + C * 9));
  const ChannelRanges r = output_aware_weight_ranges("w", w4, 0, TensorGrid{4, true, true}, ic, o.moments().at("x"), {}, &gain);
  const auto q = calib::GridQuantizer::make(r.lo[0], r.hi[0], 4, true);
  double yy = 0, yq = 0;
  for (int s = 0; s < S; ++s)
    for (int h = 0; h + 2 < H; ++h)
      for (int w = 0; w + 2 < W; ++w) {
        double y = 0, z = 0;
        for (int i = 0; i < C * 9; ++i) {
          const double v = px(s, i / 9, h + (i % 9) / 3, w + i % 3), wi = w4.data<float>()[i];
          y += wi * v;
          z += q.apply(wi) * v;
        }
        yy += y * y, yq += y * z;
      }
  EXPECT_GT(gain[0], 1.0f);
  EXPECT_NEAR(gain[0], yy / yq, 0.01 * yy / yq);
  // The per-channel form: a 1x1 layer over 18 independent inputs of the given moments.
  ChannelMoments m{std::vector<double>(C * 9), std::vector<double>(C * 9), {}, {}, {}};
  std::vector<int32_t> own(C * 9);
  for (int i = 0; i < C * 9; ++i) m.mean[i] = 0.2 * (i % 5) - 0.3, m.var[i] = 0.5 + 0.1 * (i % 7), own[i] = i;
  const Tensor w2 = Tensor::from_vector<float>({1, C * 9}, std::vector<float>(wt.data<float>(), wt.data<float>() + C * 9));
  const ChannelRanges r2 = output_aware_weight_ranges("w", w2, 0, TensorGrid{4, true, true}, own, m, {}, &gain);
  const auto q2 = calib::GridQuantizer::make(r2.lo[0], r2.hi[0], 4, true);
  // E[y yq] and E[y^2] in closed form for independent inputs: sum w_i d_i var_i + (sum w_i m_i)(sum d_i m_i).
  double wv = 0, dv = 0, wm = 0, dm = 0;
  for (int i = 0; i < C * 9; ++i) {
    const double wi = w2.data<float>()[i], di = q2.apply(wi);
    wv += wi * wi * m.var[i], dv += wi * di * m.var[i], wm += wi * m.mean[i], dm += di * m.mean[i];
  }
  EXPECT_NEAR(gain[0], (wv + wm * wm) / (dv + wm * dm), 1e-5);
}

TEST(WeightGain, GainedWeightsQuantizeOnTheirRangesToTheSearchsCodes) {
  const Tensor w = heavy_tailed_weights(5, 18, 11);
  for (const TensorGrid g : {TensorGrid{4, true, true}, TensorGrid{4, false, true}, TensorGrid{3, true, false},
                             TensorGrid{2, false, false}}) {
    std::vector<float> gain;
    const ChannelRanges r = searched_weight_ranges("w", w, 0, g, {}, &gain);
    ChannelRanges r2 = r;
    Tensor w2 = w.clone();
    apply_weight_gain(w2, 0, g, r2, gain);
    // The reduction a per-tensor grid quantizes on (the QDQ builder's).
    auto range_of = [&](const ChannelRanges& cr, int64_t c) {
      if (g.per_channel) return std::pair<double, double>{cr.lo[c], cr.hi[c]};
      return std::pair<double, double>{*std::min_element(cr.lo.begin(), cr.lo.end()),
                                       *std::max_element(cr.hi.begin(), cr.hi.end())};
    };
    for (int64_t c = 0; c < 5; ++c) {
      const auto [lo, hi] = range_of(r, c);
      const auto [lo2, hi2] = range_of(r2, c);
      const auto q = calib::GridQuantizer::make(lo, hi, g.bits, g.symmetric);
      const auto q2 = calib::GridQuantizer::make(lo2, hi2, g.bits, g.symmetric);
      EXPECT_NEAR(q2.scale, q.scale * gain[c], 1e-6 * q2.scale) << c;
      EXPECT_EQ(q2.zero_point, q.zero_point) << c;
      if (!g.per_channel) {
        EXPECT_EQ(gain[c], gain[0]);  // one scale, one gain
      }
      for (int64_t j = 0; j < 18; ++j) {
        const double v = w.data<float>()[c * 18 + j], v2 = w2.data<float>()[c * 18 + j];
        EXPECT_NEAR(v2, gain[c] * q.apply(v), 1e-6) << c << " " << j;
        // The same code on the larger step, and the gained value is on its grid.
        EXPECT_EQ(std::nearbyint(v2 / q2.scale), std::nearbyint(q.apply(v) / q.scale)) << c << " " << j;
        EXPECT_NEAR(q2.apply(v2), v2, 1e-6) << c << " " << j;
      }
    }
  }
}

TEST(WeightGain, TheModelHoldsTheGainedWeightsUntilTheFp32OnesArePutBack) {
  ModelBuilder b(13);
  b.input("x", {1, 18});
  const Tensor fc = heavy_tailed_weights(18, 4, 2);  // Gemm B [K=18, N=4]: channels along N
  b.init("fc", fc);
  b.node("Gemm", {"x", "fc"}, {"y"}, "gemm");
  b.output("y");
  OnnxGraph g = b.graph();
  WeightRangeOptions o;
  o.algo = WeightRangeAlgo::Mse;
  o.grid = {4, true, true};
  WeightGains gains;
  WeightRanges r = weight_ranges(g, o, &gains);
  ASSERT_EQ(gains.at("fc").size(), 4u);
  const ChannelRanges before = r.at("fc");
  auto fp = transform::apply_weight_gains(g, r, gains, o);
  ASSERT_EQ(fp.size(), 1u);
  const Tensor gained = g.get_initializer("fc");
  for (int64_t k = 0; k < 18; ++k)
    for (int64_t n = 0; n < 4; ++n) {
      const auto q = calib::GridQuantizer::make(before.lo[n], before.hi[n], 4, true);
      EXPECT_NEAR(gained.data<float>()[k * 4 + n], gains.at("fc")[n] * q.apply(fc.data<float>()[k * 4 + n]), 1e-6);
    }
  for (int64_t n = 0; n < 4; ++n) EXPECT_FLOAT_EQ(r.at("fc").hi[n], before.hi[n] * gains.at("fc")[n]);
  transform::restore_weights(g, fp);
  EXPECT_TRUE(fp.empty());
  const Tensor back = g.get_initializer("fc");
  for (int64_t i = 0; i < fc.numel(); ++i) EXPECT_EQ(back.data<float>()[i], fc.data<float>()[i]);
  // A weight the QDQ model leaves float (the platform's placement) gets none: it stays FP32.
  o.quantized.emplace();
  weight_ranges(g, o, &gains);
  EXPECT_TRUE(gains.empty());
  o.quantized->insert("fc");
  weight_ranges(g, o, &gains);
  EXPECT_EQ(gains.size(), 1u);
  // Off, and for min/max ranges, no gains.
  o.gain = false;
  weight_ranges(g, o, &gains);
  EXPECT_TRUE(gains.empty());
  o.gain = true;
  o.algo = WeightRangeAlgo::MinMax;
  weight_ranges(g, o, &gains);
  EXPECT_TRUE(gains.empty());
}

}  // namespace
}  // namespace dpl::test
