// Single-layer sensitivity on a chain where one layer dominates (profile_test_util.h):
// Conv2's input range [-1, 1] saturates everything (values up to 8), Conv3's input range
// [-5, 5] clips the two largest values, Conv1 is exact. With x = [2, 4, 6, 8] (FP32 output x):
//   Conv2 alone: output [1,1,1,1]                    -> cos 20 / sqrt(120 * 4)
//   Conv3 alone: x quantized with s = 5/127: round(x / s) = 51, 102, 127, 127
//                                                    -> cos 2288 / sqrt(120 * 45263)
//   both (the QDQ model): Conv3 gets [1,1,1,1]       -> cos 20 / sqrt(120 * 4)
#include <gtest/gtest.h>

#include <cmath>

#include "profile/profile_test_util.h"
#include "profile/sensitivity.h"
#include "profile/subgraph.h"

namespace dpl::test {
namespace {

const double kConv2Alone = 20.0 / std::sqrt(480.0);
const double kConv3Alone = 2288.0 / std::sqrt(120.0 * 45263.0);

struct Case {
  OnnxGraph g = identity_chain();
  ActRanges act = chain_ranges(g, {{"t1", Range{-1.f, 1.f}}, {"t2", Range{-5.f, 5.f}}});
  WeightRanges weight = all_weight_ranges(g);
  QdqModel qdq = build_qdq(g, platform_by_name("trt"), act, weight, {});

  SensitivityResult run(double target) {
    MemorySampleSource data(chain_samples({{2, 4, 6, 8}, {2, 4, 6, 8}}));
    SensitivityOptions o;
    o.samples = 2;
    o.target_cos = target;
    QdqBuildFn build = [&](const std::set<std::string>& skip) {
      QdqOptions q;
      q.skip_layers = skip;
      return build_qdq(g, platform_by_name("trt"), act, weight, q);
    };
    return run_sensitivity(g, qdq, profiling_graph(qdq), build, data, o);
  }
};

const NodeSensitivity& find(const SensitivityResult& r, const std::string& node) {
  for (const auto& n : r.nodes)
    if (n.node == node) return n;
  throw std::runtime_error("no node " + node);
}

TEST(Sensitivity, DominantLayerComesFirstWithHandComputedCosines) {
  Case c;
  SensitivityResult r = c.run(0.95);
  ASSERT_EQ(r.nodes.size(), 3u);
  EXPECT_EQ(r.samples, 2);
  EXPECT_TRUE(find(r, "Conv1").quantizes_inputs);
  EXPECT_NEAR(find(r, "Conv1").cos, 1.0, 1e-12);
  EXPECT_NEAR(find(r, "Conv2").cos, kConv2Alone, 1e-9);
  EXPECT_NEAR(find(r, "Conv3").cos, kConv3Alone, 1e-6);
  // SQNR of Conv2 alone: signal 120, error 1 + 9 + 25 + 49 = 84 per sample.
  EXPECT_NEAR(find(r, "Conv2").sqnr_db, 10.0 * std::log10(120.0 / 84.0), 1e-9);
  EXPECT_LT(find(r, "Conv2").cos, find(r, "Conv3").cos);
  EXPECT_LT(find(r, "Conv3").cos, find(r, "Conv1").cos);
}

TEST(Sensitivity, SkipListReachesTheTarget) {
  Case c;
  SensitivityResult loose = c.run(0.95);
  EXPECT_NEAR(loose.suggestion.full_cos, kConv2Alone, 1e-6);
  EXPECT_TRUE(loose.suggestion.reached);
  EXPECT_EQ(loose.suggestion.skip, (std::vector<std::string>{"Conv2"}));
  EXPECT_NEAR(loose.suggestion.cos, kConv3Alone, 1e-6);  // Conv3 still quantized

  SensitivityResult strict = c.run(0.99);
  EXPECT_TRUE(strict.suggestion.reached);
  EXPECT_EQ(strict.suggestion.skip, (std::vector<std::string>{"Conv2", "Conv3"}));
  EXPECT_NEAR(strict.suggestion.cos, 1.0, 1e-12);

  SensitivityResult none = c.run(0.5);
  EXPECT_TRUE(none.suggestion.reached);
  EXPECT_TRUE(none.suggestion.skip.empty());
  EXPECT_EQ(none.suggestion.evaluations, 1);
}

}  // namespace
}  // namespace dpl::test
