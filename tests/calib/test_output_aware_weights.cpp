// --w_range output (docs/calibration.md): the per-channel input moments and the second-moment
// matrix against hand-computed values (merged and serialized state included), the input
// channel of each weight element for every layer kind, and the search against its
// definition: on inputs drawn with the given moments, the clip it picks has the smallest
// sample output error among the candidates, where the weights' own Lp search picks worse
// ones; with the matrix taken from the samples themselves, exactly the smallest.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "calib/lp_search.h"
#include "calib/observer_moments.h"
#include "calib/sample_source.h"
#include "calib/weight_range_search.h"
#include "graph/model_builder.h"

namespace dpl::test {
namespace {

TEST(ChannelMoments, MeanAndVarianceOfHandComputedValuesPerChannel) {
  // [2 samples, 2 channels, 2 positions]: channel 0 holds 1, 3, 5, 7; channel 1 holds 2, NaN, 2, 4.
  const Tensor x = Tensor::from_vector<float>({2, 2, 2}, {1.f, 3.f, 2.f, NAN, 5.f, 7.f, 2.f, 4.f});
  ChannelMomentsObserver o({{"x", 1}, {"y", -1}}, {"y"});
  o.observe("x", x, 2);
  o.observe("z", x, 2);  // not asked for: ignored
  // "y": channels along the last axis, [3, 2]: channel 0 holds 1, 2, 3, channel 1 holds 0, 0, 6.
  o.observe("y", Tensor::from_vector<float>({3, 2}, {1.f, 0.f, 2.f, 0.f, 3.f, 6.f}), 3);
  const InputMoments m = o.moments();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_DOUBLE_EQ(m.at("x").mean[0], 4.0);
  EXPECT_DOUBLE_EQ(m.at("x").var[0], 5.0);  // (9 + 1 + 1 + 9) / 4
  EXPECT_DOUBLE_EQ(m.at("x").mean[1], 8.0 / 3);
  EXPECT_NEAR(m.at("x").var[1], 8.0 / 9, 1e-12);  // NaN left out: 2, 2, 4
  EXPECT_DOUBLE_EQ(m.at("y").mean[0], 2.0);
  EXPECT_NEAR(m.at("y").var[0], 2.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(m.at("y").var[1], 8.0);  // mean 2: (4 + 4 + 16) / 3
  // "y" in full: E[x x^T] over the rows (1, 0), (2, 0), (3, 6).
  ASSERT_EQ(m.at("y").second.size(), 4u);
  EXPECT_DOUBLE_EQ(m.at("y").second[0], 14.0 / 3);
  EXPECT_DOUBLE_EQ(m.at("y").second[1], 6.0);
  EXPECT_DOUBLE_EQ(m.at("y").second[2], 6.0);
  EXPECT_DOUBLE_EQ(m.at("y").second[3], 12.0);
  EXPECT_TRUE(m.at("x").second.empty());

  // Two observers merged (directly and through bytes) are one observer that saw both values.
  const Tensor x2 = Tensor::from_vector<float>({1, 2, 2}, {-1.f, 0.f, 10.f, 12.f});
  ChannelMomentsObserver a({{"x", 1}}), b({{"x", 1}}), c({{"x", 1}}), both({{"x", 1}});
  a.observe("x", x, 2);
  b.observe("x", x2, 1);
  c.merge_serialized(a.serialize());
  c.merge_serialized(b.serialize());
  a.merge(b);
  both.observe("x", x, 2);
  both.observe("x", x2, 1);
  for (const auto* merged : {&a, &c})
    for (int ch = 0; ch < 2; ++ch) {
      EXPECT_NEAR(merged->moments().at("x").mean[ch], both.moments().at("x").mean[ch], 1e-12);
      EXPECT_NEAR(merged->moments().at("x").var[ch], both.moments().at("x").var[ch], 1e-12);
    }
  // A tensor whose channel count changes is an error, not a mix.
  EXPECT_THROW(a.observe("x", Tensor::from_vector<float>({1, 3, 1}, {1.f, 2.f, 3.f}), 1), Error);
}

onnx::NodeProto node(const std::string& op, std::vector<std::pair<std::string, int64_t>> attrs = {}) {
  onnx::NodeProto n;
  n.set_op_type(op);
  for (const auto& [name, v] : attrs) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  return n;
}

TEST(OutputAwareWeights, EachWeightElementMultipliesTheRightInputChannel) {
  // Conv, 2 groups: weight [4, 3, 1, 2] on 6 input channels; outputs 0-1 read channels 0-2, 2-3 read 3-5.
  const auto conv = weight_input_channels(node("Conv", {{"group", 2}}), Tensor(DType::F32, {4, 3, 1, 2}), 6);
  ASSERT_EQ(conv.size(), 24u);
  EXPECT_EQ(conv[0], 0);
  EXPECT_EQ(conv[1], 0);
  EXPECT_EQ(conv[2], 1);
  EXPECT_EQ(conv[6 + 5], 2);       // output 1, channel 2, second tap
  EXPECT_EQ(conv[12], 3);          // output 2 starts group 1
  EXPECT_EQ(conv[18 + 4], 5);      // output 3, channel 2 of its group
  EXPECT_TRUE(weight_input_channels(node("Conv"), Tensor(DType::F32, {4, 4, 1, 1}), 6).empty());  // 6 % 4
  // ConvTranspose [C_in, C_out/group, k]: the first axis.
  const auto convt = weight_input_channels(node("ConvTranspose"), Tensor(DType::F32, {2, 3, 2}), 2);
  EXPECT_EQ(convt[5], 0);
  EXPECT_EQ(convt[6], 1);
  // Gemm: B [K, N] or, with transB, [N, K].
  const auto gemm = weight_input_channels(node("Gemm"), Tensor(DType::F32, {3, 2}), 3);
  EXPECT_EQ(std::vector<int32_t>(gemm.begin(), gemm.end()), (std::vector<int32_t>{0, 0, 1, 1, 2, 2}));
  const auto gemm_t = weight_input_channels(node("Gemm", {{"transB", 1}}), Tensor(DType::F32, {2, 3}), 3);
  EXPECT_EQ(std::vector<int32_t>(gemm_t.begin(), gemm_t.end()), (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));
  // MatMul B [batch, K, N]: the second-to-last axis.
  const auto mm = weight_input_channels(node("MatMul"), Tensor(DType::F32, {2, 2, 3}), 2);
  EXPECT_EQ(std::vector<int32_t>(mm.begin(), mm.end()), (std::vector<int32_t>{0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1}));
  EXPECT_TRUE(weight_input_channels(node("MatMul"), Tensor(DType::F32, {3, 2}), 2).empty());
  EXPECT_EQ(*layer_input_channel_axis(node("Gemm", {{"transA", 1}})), 0);
  EXPECT_EQ(*layer_input_channel_axis(node("MatMul")), -1);
  EXPECT_FALSE(layer_input_channel_axis(node("PRelu")).has_value());
}

// One output channel of K weights: a Laplace bulk with an outlier on feature 0.
constexpr int kK = 64;
std::vector<float> weights_with_outlier() {
  std::mt19937_64 rng(7);
  std::exponential_distribution<float> e(4.f);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> w(kK);
  for (auto& v : w) v = (u(rng) < 0.5f ? -1.f : 1.f) * e(rng);
  w[0] = 2.f;
  return w;
}

// Sample mean of (sum_k e_k x_k)^2 with x_k ~ N(mean_k, var_k), e = Q(w) - w on [lo, hi] (4 bits, symmetric).
double sample_output_error(const std::vector<float>& w, const ChannelMoments& m, double lo, double hi) {
  const auto q = calib::GridQuantizer::make(lo, hi, 4, true);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> n(0, 1);
  double s = 0;
  const int samples = 4000;
  for (int i = 0; i < samples; ++i) {
    double y = 0;
    for (int k = 0; k < kK; ++k) y += (q.apply(w[k]) - w[k]) * (m.mean[k] + std::sqrt(m.var[k]) * n(rng));
    s += y * y;
  }
  return s / samples;
}

TEST(OutputAwareWeights, PicksTheCandidateWithTheSmallestOutputErrorWhereTheLpSearchDoesNot) {
  const auto w = weights_with_outlier();
  const Tensor t = Tensor::from_vector<float>({1, kK}, w);
  std::vector<int32_t> ic(kK);
  for (int k = 0; k < kK; ++k) ic[k] = k;
  const TensorGrid g{4, true, true};
  const auto lp = searched_weight_ranges("w", t, 0, g);
  // Feature 0 carries a large mean (a constant-ish input): clipping its weight shifts every
  // output, so the clip must stay near the outlier. Feature 0 dead: the outlier is free to clip.
  ChannelMoments loud{std::vector<double>(kK, 0.1), std::vector<double>(kK, 1.0), {}, {}, {}};
  loud.mean[0] = 6.0;
  ChannelMoments dead = loud;
  dead.mean[0] = 0, dead.var[0] = 0;
  for (const auto* m : {&loud, &dead}) {
    const auto r = output_aware_weight_ranges("w", t, 0, g, ic, *m);
    const double chosen = sample_output_error(w, *m, r.lo[0], r.hi[0]);
    // The sample error of every candidate of the ladder: none is clearly better.
    double best = INFINITY;
    for (int i = 1; i <= 100; ++i) {
      const double c = 2.0 * i / 100;
      best = std::min(best, sample_output_error(w, *m, -c, c));
    }
    EXPECT_LE(chosen, best * 1.05) << (m == &loud ? "loud" : "dead") << " clip " << r.hi[0];
    // ... and the weights' own search is worse on the output.
    EXPECT_GT(sample_output_error(w, *m, lp.lo[0], lp.hi[0]), chosen * 1.2)
        << (m == &loud ? "loud" : "dead") << " lp clip " << lp.hi[0] << ", output clip " << r.hi[0];
  }
  EXPECT_GT(output_aware_weight_ranges("w", t, 0, g, ic, loud).hi[0], lp.hi[0]);
  EXPECT_LT(output_aware_weight_ranges("w", t, 0, g, ic, dead).hi[0], lp.hi[0]);
}

TEST(OutputAwareWeights, WithTheSecondMomentMatrixTheSearchMinimisesTheSampleOutputErrorExactly) {
  // Inputs driven by one common factor (strongly correlated features) with nonzero means;
  // the matrix of second moments taken by the observer from these very samples makes the
  // search's error the samples' mean output error square, so no candidate of the ladder
  // beats the chosen clip on the samples, even where the diagonal form would.
  const auto w = weights_with_outlier();
  const int samples = 2000;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> n(0.f, 1.f);
  Tensor x(DType::F32, {samples, kK});
  for (int i = 0; i < samples; ++i) {
    const float z = n(rng);
    for (int k = 0; k < kK; ++k) x.data<float>()[i * kK + k] = 0.3f + (k % 2 ? z : -z) + 0.2f * n(rng);
  }
  ChannelMomentsObserver o({{"x", -1}}, {"x"});
  o.observe("x", x, samples);
  const ChannelMoments m = o.moments().at("x");
  ASSERT_EQ(m.second.size(), size_t{kK * kK});
  auto sample_error = [&](double c) {
    const auto q = calib::GridQuantizer::make(-c, c, 4, true);
    double s = 0;
    for (int i = 0; i < samples; ++i) {
      double y = 0;
      for (int k = 0; k < kK; ++k) y += (q.apply(w[k]) - w[k]) * x.data<float>()[i * kK + k];
      s += y * y;
    }
    return s / samples;
  };
  std::vector<int32_t> ic(kK);
  for (int k = 0; k < kK; ++k) ic[k] = k;
  const Tensor t = Tensor::from_vector<float>({1, kK}, w);
  const auto r = output_aware_weight_ranges("w", t, 0, TensorGrid{4, true, true}, ic, m);
  const double chosen = sample_error(r.hi[0]);
  for (int i = 1; i <= 100; ++i) EXPECT_LE(chosen, sample_error(2.0 * i / 100) * (1 + 1e-4)) << i;
}

TEST(ChannelMoments, WindowAutocorrelationOfHandComputedValues) {
  // One 2 x 3 channel [[1, 2, 3], [4, 5, 6]], windows of 2 x 2 taps: offsets -1..1 each way.
  ChannelMomentsObserver o({{"x", 1}}, {}, {{"x", {2, 2, 1, 1}}});
  o.observe("x", Tensor::from_vector<float>({1, 1, 2, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}), 1);
  const ChannelMoments m = o.moments().at("x");
  ASSERT_EQ(m.autocorr.size(), 9u);
  auto R = [&](int dy, int dx) { return m.autocorr[static_cast<size_t>((dy + 1) * 3 + dx + 1)]; };
  EXPECT_DOUBLE_EQ(R(0, 0), 91.0 / 6);  // mean square
  EXPECT_DOUBLE_EQ(R(1, 0), 32.0 / 3);  // (1*4 + 2*5 + 3*6) / 3
  EXPECT_DOUBLE_EQ(R(0, 1), 14.5);      // (1*2 + 2*3 + 4*5 + 5*6) / 4
  EXPECT_DOUBLE_EQ(R(1, 1), 8.5);       // (1*5 + 2*6) / 2
  EXPECT_DOUBLE_EQ(R(-1, -1), R(1, 1));
  EXPECT_DOUBLE_EQ(R(-1, 0), R(1, 0));
}

TEST(OutputAwareWeights, ConvolutionWindowsOfSmoothInputsAreScoredAsTheSamplesSay) {
  // A depthwise 3x3 channel (its output reads one input channel) on smooth images with a
  // mean: the taps of a window are strongly correlated, so their clipping errors add up. With
  // the window autocorrelation the search's error is the samples' output error square (up to
  // the border, which the stationary estimate does not see), so the chosen clip is within a
  // little of the best candidate on the samples themselves.
  const int S = 64, H = 24, W = 24;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(0.f, 6.2831853f);
  Tensor x(DType::F32, {S, 1, H, W});
  for (int s = 0; s < S; ++s) {
    const float p1 = u(rng), p2 = u(rng), p3 = u(rng);
    for (int h = 0; h < H; ++h)
      for (int w = 0; w < W; ++w)
        x.data<float>()[(s * H + h) * W + w] =
            0.5f + std::sin(0.3f * h + p1) + std::cos(0.25f * w + p2) + 0.5f * std::sin(0.2f * (h + w) + p3);
  }
  ChannelMomentsObserver o({{"x", 1}}, {}, {{"x", {3, 3, 1, 1}}});
  o.observe("x", x, S);
  const ChannelMoments m = o.moments().at("x");
  const std::vector<float> w = {0.3f, -0.8f, 0.25f, 0.6f, 2.f, -0.45f, 0.1f, 0.7f, -0.35f};
  auto sample_error = [&](double c) {
    const auto q = calib::GridQuantizer::make(-c, c, 4, true);
    double sum = 0;
    int64_t n = 0;
    for (int s = 0; s < S; ++s)
      for (int h = 0; h + 2 < H; ++h)
        for (int ww = 0; ww + 2 < W; ++ww) {
          double y = 0;
          for (int t = 0; t < 9; ++t) y += (q.apply(w[t]) - w[t]) * x.data<float>()[(s * H + h + t / 3) * W + ww + t % 3];
          sum += y * y, ++n;
        }
    return sum / n;
  };
  const Tensor t = Tensor::from_vector<float>({1, 1, 3, 3}, w);
  const std::vector<int32_t> ic(9, 0);
  const auto r = output_aware_weight_ranges("w", t, 0, TensorGrid{4, true, true}, ic, m);
  double best = INFINITY;
  for (int i = 1; i <= 100; ++i) best = std::min(best, sample_error(2.0 * i / 100));
  EXPECT_LE(sample_error(r.hi[0]), best * 1.02) << "clip " << r.hi[0];
}

TEST(OutputAwareWeights, GraphRangesUseTheLayerInputsMomentsFromTheSamples) {
  // x [1, 2, 1, 3] -> Conv (2 outputs, 1x1) -> Relu -> Gemm: both layers' inputs observed.
  ModelBuilder b(13);
  b.input("x", {1, 2, 1, 3});
  b.init("w", Tensor::from_vector<float>({2, 2, 1, 1}, {1.f, -0.25f, 0.5f, 0.125f}));
  b.init("fc", Tensor::from_vector<float>({6, 2}, {1.f, 2.f, 3.f, -1.f, 0.5f, 0.25f, 1.f, 0.f, -2.f, 1.f, 0.5f, 3.f}));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.node("Relu", {"c"}, {"r"}, "relu");
  b.node("Flatten", {"r"}, {"f"}, "flatten");
  b.node("Gemm", {"f", "fc"}, {"y"}, "gemm");
  b.output("y");
  std::vector<TensorMap> samples;
  for (float s : {1.f, 2.f}) {
    TensorMap m;
    m["x"] = Tensor::from_vector<float>({1, 2, 1, 3}, {s, 2 * s, 3 * s, -s, 0.f, s});
    samples.push_back(std::move(m));
  }
  MemorySampleSource data(std::move(samples));
  CaliOptions co;
  co.batch = 2;
  const InputMoments m = layer_input_moments(b.graph(), data, co);
  ASSERT_TRUE(m.count("x"));
  ASSERT_TRUE(m.count("f"));
  // Channel 0 of x: 1, 2, 3, 2, 4, 6 -> mean 3, variance (4 + 1 + 0 + 1 + 1 + 9) / 6.
  EXPECT_DOUBLE_EQ(m.at("x").mean[0], 3.0);
  EXPECT_NEAR(m.at("x").var[0], 16.0 / 6, 1e-12);
  EXPECT_EQ(m.at("f").mean.size(), 6u);  // Gemm features: the flattened Conv output
  EXPECT_EQ(m.at("f").second.size(), 36u);  // a linear layer: the whole matrix
  EXPECT_TRUE(m.at("x").second.empty());
  EXPECT_TRUE(m.at("x").autocorr.empty());  // a 1x1 convolution: no windows
  WeightRangeOptions o;
  o.algo = WeightRangeAlgo::Output;
  o.grid = {4, true, true};
  o.input_moments = &m;
  const WeightRanges r = weight_ranges(b.graph(), o);
  ASSERT_EQ(r.at("w").lo.size(), 2u);
  ASSERT_EQ(r.at("fc").lo.size(), 2u);  // Gemm B [K, N]: channels along N
  // Without moments the search falls back to the Lp one.
  o.input_moments = nullptr;
  WeightRangeOptions mse = o;
  mse.algo = WeightRangeAlgo::Mse;
  EXPECT_EQ(weight_ranges(b.graph(), o).at("w").hi, weight_ranges(b.graph(), mse).at("w").hi);
  EXPECT_EQ(parse_weight_range_algo("output"), WeightRangeAlgo::Output);
}

}  // namespace
}  // namespace dpl::test
