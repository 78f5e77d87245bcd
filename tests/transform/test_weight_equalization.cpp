// Weight equalization (transform/weight_equalization.h) on random Conv pairs whose
// per-channel weight ranges differ by up to 16x: the FP32 outputs do not change (cosine
// >= 0.999999) and, per channel, the first Conv's output-channel range equals the second
// Conv's input-channel range (the rule's fixed point, r1 = r2 = sqrt(r1 r2)); for plain,
// grouped and depthwise second Convs, through Relu, PRelu or nothing; a chain of three
// Convs converges; a Clip pair is skipped unless its factors are all equal (then its bound
// is divided). High-bias absorption keeps the outputs on its calibration samples.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "transform/transform_test_util.h"
#include "transform/weight_equalization.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

// max |W1[i]| per output channel i, and max |W2[rows of the group of i, i]| per input
// channel i of the second Conv, from the graph's current weights.
std::pair<std::vector<double>, std::vector<double>> pair_ranges(const OnnxGraph& g, const std::string& a,
                                                                const std::string& b) {
  const Tensor w1 = g.get_initializer(g.node(g.node_index(a)).input(1));
  const Tensor w2 = g.get_initializer(g.node(g.node_index(b)).input(1));
  const int64_t c1 = w1.dim(0), per1 = w1.numel() / c1;
  const int64_t c2 = w2.dim(0), cin_g = w2.dim(1), sp = w2.numel() / (c2 * cin_g), groups = c1 / cin_g;
  std::vector<double> r1(c1, 0), r2(c1, 0);
  for (int64_t i = 0; i < c1; ++i)
    for (int64_t k = 0; k < per1; ++k) r1[i] = std::max(r1[i], std::fabs((double)w1.data<float>()[i * per1 + k]));
  for (int64_t o = 0; o < c2; ++o) {
    const int64_t gi = o / (c2 / groups);
    for (int64_t ii = 0; ii < cin_g; ++ii)
      for (int64_t k = 0; k < sp; ++k) {
        double& r = r2[gi * cin_g + ii];
        r = std::max(r, std::fabs((double)w2.data<float>()[(o * cin_g + ii) * sp + k]));
      }
  }
  return {r1, r2};
}

struct PairCase {
  std::string name;
  std::string act;  // "", "Relu", "PRelu"
  int64_t c1, c2, group2, k2;
};

void PrintTo(const PairCase& c, std::ostream* os) { *os << c.name; }

OnnxGraph pair_model(const PairCase& c) {
  ModelBuilder b(13);
  b.input("x", {1, 3, 10, 10});
  add_conv(b, "conv1", "x", "c1", 3, c.c1, 3, 1, 1, 5);
  std::string mid = "c1";
  if (c.act == "Relu") {
    b.node("Relu", {"c1"}, {"a1"}, "act");
    mid = "a1";
  } else if (c.act == "PRelu") {
    b.init("slope", random_tensor({c.c1, 1, 1}, 9, 0.05f, 0.3f)).node("PRelu", {"c1", "slope"}, {"a1"}, "act");
    mid = "a1";
  }
  add_conv(b, "conv2", mid, "y", c.c1, c.c2, c.k2, c.group2, c.k2 / 2, 17);
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

class WeightEqualizationPairs : public ::testing::TestWithParam<PairCase> {};

TEST_P(WeightEqualizationPairs, OutputsUnchangedAndChannelRangesEqual) {
  const PairCase& c = GetParam();
  const OnnxGraph original = pair_model(c);
  OnnxGraph g = original.copy();
  const auto before = pair_ranges(g, "conv1", "conv2");
  double spread = 0;  // how unequal the ranges were
  for (size_t i = 0; i < before.first.size(); ++i)
    spread = std::max(spread, std::fabs(std::log(before.first[i] / before.second[i])));
  ASSERT_GT(spread, 0.5) << "the random model should start unequal";

  const auto r = transform::equalize_weights(g);
  ASSERT_EQ(r.equalized.size(), 1u);
  EXPECT_EQ(r.equalized[0].act_type, c.act);
  EXPECT_TRUE(r.converged);
  const auto [r1, r2] = pair_ranges(g, "conv1", "conv2");
  for (size_t i = 0; i < r1.size(); ++i) {
    EXPECT_NEAR(r1[i], r2[i], 1e-5 * r1[i]) << "channel " << i;
    EXPECT_NEAR(r1[i], std::sqrt(before.first[i] * before.second[i]), 1e-5 * r1[i]) << "channel " << i;
  }
  const auto samples = random_samples("x", {1, 3, 10, 10}, 3, 3, -2.f, 2.f);
  EXPECT_GE(cosine(run_all(g, samples, "y"), run_all(original, samples, "y")), 0.999999);
}

INSTANTIATE_TEST_SUITE_P(Cases, WeightEqualizationPairs,
                         ::testing::Values(PairCase{"relu", "Relu", 6, 5, 1, 3},
                                           PairCase{"prelu_depthwise", "PRelu", 8, 8, 8, 3},
                                           PairCase{"direct_two_groups", "", 6, 4, 2, 1}),
                         [](const auto& info) { return info.param.name; });

TEST(WeightEqualization, ChainOfThreeConvsConverges) {
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  add_conv(b, "conv1", "x", "c1", 3, 6, 3, 1, 1, 1);
  b.node("Relu", {"c1"}, {"a1"}, "relu1");
  add_conv(b, "conv2", "a1", "c2", 6, 6, 3, 6, 1, 2);  // depthwise
  b.node("Relu", {"c2"}, {"a2"}, "relu2");
  add_conv(b, "conv3", "a2", "y", 6, 4, 1, 1, 0, 3);
  b.output("y");
  OnnxGraph original = b.graph();
  prepare_model(original, 13, false);
  OnnxGraph g = original.copy();
  const auto r = transform::equalize_weights(g);
  ASSERT_EQ(r.equalized.size(), 2u);
  EXPECT_TRUE(r.converged);
  EXPECT_GT(r.sweeps, 2) << "the pairs share conv2, so one sweep is not enough";
  // Near the common fixed point: both pairs' ranges agree to the convergence threshold.
  for (const auto& [a, c] : {std::pair{"conv1", "conv2"}, std::pair{"conv2", "conv3"}}) {
    const auto [r1, r2] = pair_ranges(g, a, c);
    for (size_t i = 0; i < r1.size(); ++i) EXPECT_NEAR(r1[i], r2[i], 1e-3 * r1[i]) << a << " channel " << i;
  }
  const auto samples = random_samples("x", {1, 3, 8, 8}, 3, 4, -2.f, 2.f);
  EXPECT_GE(cosine(run_all(g, samples, "y"), run_all(original, samples, "y")), 0.999999);
}

// Conv1 -> Clip(0, 6) -> 1x1 Conv2. With `equal_factors`, W2's column i peaks at 4 r1[i], so
// every factor is sqrt(r1 / r2) = 1/2.
OnnxGraph clip_model(bool equal_factors) {
  ModelBuilder b(13);
  b.input("x", {1, 3, 6, 6});
  add_conv(b, "conv1", "x", "c1", 3, 4, 3, 1, 1, 21);
  b.init("lo", Tensor::scalar<float>(0.f)).init("hi", Tensor::scalar<float>(6.f));
  b.node("Clip", {"c1", "lo", "hi"}, {"a1"}, "clip");
  add_conv(b, "conv2", "a1", "y", 4, 3, 1, 1, 0, 22);
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  if (equal_factors) {
    const auto [r1, r2] = pair_ranges(g, "conv1", "conv2");
    Tensor w2 = g.get_initializer("conv2_w").clone();
    for (int64_t o = 0; o < 3; ++o)
      for (int64_t i = 0; i < 4; ++i) w2.data<float>()[o * 4 + i] *= static_cast<float>(4 * r1[i] / r2[i]);
    g.set_initializer("conv2_w", w2);
  }
  return g;
}

TEST(WeightEqualization, ClipPairWithUnequalFactorsIsSkipped) {
  const OnnxGraph original = clip_model(false);
  OnnxGraph g = original.copy();
  const auto r = transform::equalize_weights(g);
  EXPECT_TRUE(r.equalized.empty());
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].find("Clip"), std::string::npos) << r.skipped[0];
  EXPECT_NE(r.skipped[0].find("per-channel"), std::string::npos) << r.skipped[0];
  for (const char* w : {"conv1_w", "conv2_w"})
    expect_tensor_near(g.get_initializer(w), original.get_initializer(w), 0, 0);
}

TEST(WeightEqualization, ClipPairWithEqualFactorsScalesTheBounds) {
  const OnnxGraph original = clip_model(true);
  OnnxGraph g = original.copy();
  const auto r = transform::equalize_weights(g);
  ASSERT_EQ(r.equalized.size(), 1u);
  EXPECT_EQ(r.equalized[0].act_type, "Clip");
  const auto& clip = g.node(g.node_index("clip"));
  EXPECT_NEAR(g.get_initializer(clip.input(2)).to_f32_vector()[0], 12.f, 1e-4);
  EXPECT_EQ(g.get_initializer(clip.input(1)).to_f32_vector()[0], 0.f);
  const auto samples = random_samples("x", {1, 3, 6, 6}, 3, 5, -3.f, 3.f);
  const auto want = run_all(original, samples, "y");
  const auto got = run_all(g, samples, "y");
  EXPECT_GE(cosine(got, want), 0.999999);
  EXPECT_LT(max_abs_diff(got, want), 1e-4);
}

TEST(HighBiasAbsorption, OutputsUnchangedOnCalibrationDataAndBiasShrinks) {
  ModelBuilder b(13);
  b.input("x", {1, 3, 6, 6});
  add_conv(b, "conv1", "x", "c1", 3, 4, 3, 1, 1, 31);
  b.node("Relu", {"c1"}, {"a1"}, "relu");
  add_conv(b, "conv2", "a1", "y", 4, 3, 1, 1, 0, 32);
  b.output("y");
  OnnxGraph original = b.graph();
  prepare_model(original, 13, false);
  // A large positive bias: conv1's outputs stay above zero on these inputs.
  original.set_initializer("conv1_b", Tensor::from_vector<float>({4}, {60.f, 50.f, 80.f, -50.f}));
  OnnxGraph g = original.copy();
  const auto samples = random_samples("x", {1, 3, 6, 6}, 4, 6, 0.f, 1.f);
  MemorySampleSource data(samples);
  const auto eq = transform::equalize_weights(g);
  const auto bias_of = [&] { return g.get_initializer(g.node(g.node_index("conv1")).input(2)).to_f32_vector(); };
  const auto b_eq = bias_of();
  const auto r = transform::absorb_high_bias(g, eq.equalized, data, {});
  ASSERT_EQ(r.pairs.size(), 1u);
  EXPECT_EQ(r.channels, 3) << "the three channels with a large bias never reach zero";
  const auto b1 = bias_of();
  for (int c = 0; c < 3; ++c) EXPECT_LT(b1[c], 0.8f * b_eq[c]) << "channel " << c << " kept most of its bias";
  EXPECT_EQ(b1[3], b_eq[3]) << "a channel that reaches zero keeps its bias";
  const auto want = run_all(original, samples, "y");
  const auto got = run_all(g, samples, "y");
  EXPECT_GE(cosine(got, want), 0.999999);
  EXPECT_LT(max_abs_diff(got, want), 1e-3);
}

}  // namespace
}  // namespace dpl::test
