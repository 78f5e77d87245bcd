// The profiling pass on a model whose per-layer error is known by construction
// (profile_test_util.h): Conv2's input range is forced to [-1, 1] while the values reach 8,
// so Conv2's output must come out lowest, with cosine and SQNR worked out by hand; the
// network output has 4 values per sample, so it gets one cosine over all samples stacked
// (the original's "tolcos"); layer_res.json / model_res.json keep the original's layout.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "profile/console_report.h"
#include "profile/profile_json.h"
#include "profile/profiler.h"
#include "profile/report.h"
#include "profile/profile_test_util.h"

namespace dpl::test {
namespace {

// Samples: x = [2,4,6,8], [1,1,1,1], [3,3,3,3].
const std::vector<std::vector<float>> kSamples{{2, 4, 6, 8}, {1, 1, 1, 1}, {3, 3, 3, 3}};

struct Built {
  OnnxGraph g = identity_residual();
  ActRanges act = chain_ranges(g, {{"t1", Range{-1.f, 1.f}}});
  QdqModel qdq = build_qdq(g, platform_by_name("trt"), act, all_weight_ranges(g), {});
};

ProfileResult run(const Built& b, int batch, bool per_layer) {
  MemorySampleSource data(chain_samples(kSamples));
  ProfileOptions o;
  o.batch = batch;
  o.per_layer = per_layer;
  return profile_qdq(b.g, b.qdq, data, o);
}

const LayerProfile& layer(const ProfileResult& r, const std::string& tensor) {
  for (const auto& l : r.layers)
    if (l.tensor == tensor) return l;
  throw std::runtime_error("no layer " + tensor);
}

// By hand. Conv2's output is [1,1,1,1] in the QDQ model for every sample (t1 saturates at
// 1.0), x in the FP32 model: cosines 20/sqrt(4*120), 1, 1; signal 120 + 4 + 36 = 160, error
// (1+9+25+49) + 0 + (4*4) = 100.
const double kConv2Cos = (20.0 / std::sqrt(480.0) + 1.0 + 1.0) / 3.0;
const double kConv2Sqnr = 10.0 * std::log10(160.0 / 100.0);
// After the residual the QDQ model has 1 + x where FP32 has 2x: sample 0 [3,5,7,9] vs
// [4,8,12,16] (cos 280/sqrt(164*480)), samples 1 and 2 cos 1. Stacked over the samples:
// dot 280 + 16 + 96, |FP32|^2 480 + 16 + 144, |QDQ|^2 164 + 16 + 64.
const double kAddCos = (280.0 / std::sqrt(164.0 * 480.0) + 1.0 + 1.0) / 3.0;
const double kOutputTolcos = 392.0 / std::sqrt(640.0 * 244.0);

TEST(Profiler, ForcedSmallRangeLayerIsLowestWithHandComputedSqnr) {
  Built b;
  ProfileResult r = run(b, 1, true);
  ASSERT_EQ(r.samples, 3);
  ASSERT_EQ(r.layers.size(), 4u);  // Conv1, Conv2, Add1, Conv3 in graph order
  EXPECT_EQ(r.layers[0].tensor, "t1");
  EXPECT_EQ(r.layers[1].tensor, "t2");
  EXPECT_EQ(r.layers[2].tensor, "t3");
  EXPECT_EQ(r.layers[3].tensor, "y");

  const LayerProfile& c2 = layer(r, "t2");
  EXPECT_EQ(c2.node, "Conv2");
  EXPECT_NEAR(c2.stats.mean_cosine(), kConv2Cos, 1e-9);
  EXPECT_NEAR(c2.stats.min_cosine(), 20.0 / std::sqrt(480.0), 1e-9);
  EXPECT_NEAR(c2.stats.sqnr_db(), kConv2Sqnr, 1e-9);
  EXPECT_NEAR(c2.stats.rel_mse(), 100.0 / 160.0, 1e-12);
  // Conv1 sees exact values: no error at all.
  EXPECT_NEAR(layer(r, "t1").stats.mean_cosine(), 1.0, 1e-12);
  EXPECT_TRUE(std::isinf(layer(r, "t1").stats.sqnr_db()));
  EXPECT_NEAR(layer(r, "t3").stats.mean_cosine(), kAddCos, 1e-9);
  EXPECT_NEAR(layer(r, "y").stats.mean_cosine(), kAddCos, 1e-9);

  auto low = lowest_layers(r, 10);
  ASSERT_EQ(low.size(), 4u);
  EXPECT_EQ(low[0]->node, "Conv2");
  EXPECT_EQ(low[1]->node, "Add1");  // tie with Conv3, broken by name as the original's heap
  EXPECT_EQ(low[3]->node, "Conv1");
}

TEST(Profiler, SmallOutputIsComparedStackedOverSamples) {
  Built b;
  ASSERT_TRUE(is_tolcos_output(b.g, "y"));
  ProfileResult r = run(b, 1, true);
  ASSERT_EQ(r.outputs.size(), 1u);
  const OutputProfile& o = r.outputs[0];
  EXPECT_TRUE(o.tolcos);
  EXPECT_EQ(o.q_name, "y");  // trt does not quantize the network output
  EXPECT_NEAR(o.avg_cos(), kOutputTolcos, 1e-9);
  EXPECT_NEAR(o.min_cos(), kOutputTolcos, 1e-9);
  // Not the mean of the per-sample cosines, which is larger here.
  EXPECT_GT(o.stats.mean_cosine() - o.avg_cos(), 5e-3);
}

TEST(Profiler, TolcosRuleUsesTheDeclaredShapeWithoutItsFirstAxis) {
  auto graph_with_output = [](const Shape& s) {
    ModelBuilder b;
    b.input("x", s).node("Relu", {"x"}, {"y"}).output("y", s);
    return b.graph();
  };
  EXPECT_TRUE(is_tolcos_output(graph_with_output({1, 10}), "y"));
  EXPECT_FALSE(is_tolcos_output(graph_with_output({1, 11}), "y"));
  EXPECT_TRUE(is_tolcos_output(graph_with_output({7, 2, 5}), "y"));
  EXPECT_TRUE(is_tolcos_output(graph_with_output({-1, 2}), "y"));    // YuNet's conf [?, 2]
  EXPECT_FALSE(is_tolcos_output(graph_with_output({-1, 14}), "y"));  // YuNet's loc [?, 14]
  EXPECT_FALSE(is_tolcos_output(graph_with_output({1, -1}), "y"));   // unknown size: not small
}

TEST(Profiler, BatchedAndOutputsOnlyRunsGiveTheSameFigures) {
  Built b;
  ProfileResult one = run(b, 1, true), batched = run(b, 3, true), outputs_only = run(b, 2, false);
  ASSERT_EQ(batched.layers.size(), one.layers.size());
  for (size_t i = 0; i < one.layers.size(); ++i) {
    EXPECT_NEAR(batched.layers[i].stats.mean_cosine(), one.layers[i].stats.mean_cosine(), 1e-12);
    EXPECT_NEAR(batched.layers[i].stats.rel_mse(), one.layers[i].stats.rel_mse(), 1e-12);
  }
  EXPECT_TRUE(outputs_only.layers.empty());
  EXPECT_NEAR(outputs_only.outputs[0].avg_cos(), kOutputTolcos, 1e-9);
  EXPECT_NEAR(batched.outputs[0].avg_cos(), kOutputTolcos, 1e-9);
}

TEST(Profiler, ResultFilesKeepTheOriginalLayout) {
  Built b;
  ProfileResult r = run(b, 1, true);
  // layer_res.json: {tensor: cosine} in graph order, json.dump(indent=4).
  const std::string layer = layer_res_json(r);
  EXPECT_EQ(layer.rfind("{\n    \"t1\": ", 0), 0u) << layer;
  auto lj = nlohmann::ordered_json::parse(layer);
  std::vector<std::string> keys;
  for (auto it = lj.begin(); it != lj.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"t1", "t2", "t3", "y"}));
  EXPECT_NEAR(lj["t2"].get<double>(), kConv2Cos, 1e-9);
  // model_res.json: {output: [avg cos, min cos]}; tolcos outputs repeat the one figure.
  auto mj = nlohmann::json::parse(model_res_json(r));
  ASSERT_TRUE(mj["y"].is_array());
  ASSERT_EQ(mj["y"].size(), 2u);
  EXPECT_NEAR(mj["y"][0].get<double>(), kOutputTolcos, 1e-9);
  EXPECT_NEAR(mj["y"][1].get<double>(), kOutputTolcos, 1e-9);
}

TEST(Profiler, ConsoleLinesFollowTheOriginalLayout) {
  Built b;
  ProfileReport rep;
  rep.profile = run(b, 1, true);
  rep.ranges = tensor_ranges(b.g, b.act, all_weight_ranges(b.g), true);
  rep.weights_per_channel = true;
  auto lines = profile_report_lines(rep);
  auto has = [&](const std::string& s) { return std::find(lines.begin(), lines.end(), s) != lines.end(); };
  EXPECT_TRUE(has("Conv2"));
  EXPECT_TRUE(has(fmt::format("Layer  cos: {:.5f}    SQNR: {:.2f} dB    relMSE: {:.3e}", kConv2Cos, kConv2Sqnr,
                              0.625)));
  EXPECT_TRUE(has("The smallest cos value of 10 layers: "));
  EXPECT_TRUE(has(fmt::format("{:40} cos : {:<.5f}    SQNR : {:.2f} dB    relMSE : {:.3e}", "Conv2-t2", kConv2Cos,
                              kConv2Sqnr, 0.625)));
  EXPECT_TRUE(has("Quant model output cos: "));
  // Output errors: (1 + 9 + 25 + 49) + 0 + 4 * 4 = 100 over a signal of 640.
  EXPECT_TRUE(has(fmt::format("{:40} tolcos : {:<.5f}    SQNR : {:.2f} dB    relMSE : {:.3e}", "y", kOutputTolcos,
                              10.0 * std::log10(640.0 / 100.0), 100.0 / 640.0)))
      << "got:\n" << fmt::format("{}", fmt::join(lines, "\n"));
  EXPECT_TRUE(has(fmt::format("{:<30} Shape: {:<20} Range: [{:<10f} {:<10f}]", "t1", "[-1, 4, 1, 1]", -1.f, 1.f)));
  EXPECT_TRUE(has(fmt::format("{:<30} Shape: {:<20} Range: per channel [{:<10f} {:<10f}]", "W2", "[4, 4, 1, 1]", 0.f,
                              1.f)));
}

}  // namespace
}  // namespace dpl::test
