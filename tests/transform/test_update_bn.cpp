// BN update (transform/update_bn.h): the momentum rule on hand-worked numbers, the whole
// path on a hand-sized tensor whose quantization is exact, and the incremental order (a BN
// is measured in the QDQ model where the BNs before it are already updated).
#include <gtest/gtest.h>

#include <cmath>

#include "calib/tensor_cali.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "transform/transform_test_util.h"
#include "transform/update_bn.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

TEST(UpdateBn, MomentumRuleByHand) {
  // mean <- 0.9 mean + 0.1 mean_i, var <- 0.9 var + 0.1 var_i, samples in order:
  // channel 0: mean 0 -> 0.2 -> 0.58, var 1 -> 1.0 -> 0.95; channel 1: mean 1 -> 1.2 -> 0.98,
  // var 2 -> 1.8 -> 1.82.
  const auto [m, v] = transform::update_bn_statistics({0.f, 1.f}, {1.f, 2.f}, {{2, 3}, {4, -1}}, {{1, 0}, {0.5, 2}});
  EXPECT_NEAR(m[0], 0.58f, 1e-6);
  EXPECT_NEAR(m[1], 0.98f, 1e-6);
  EXPECT_NEAR(v[0], 0.95f, 1e-6);
  EXPECT_NEAR(v[1], 1.82f, 1e-6);
}

TEST(UpdateBn, HandSizedTensorThroughTheQuantizedModel) {
  // x [1,2,1,2] -> 1x1 Conv with identity weights -> BN(mean 0, var 1). On trt, x's range
  // [-127, 127] gives scale 1 and the weight 1 dequantizes to 1, so the BN sees x exactly.
  ModelBuilder b(13);
  b.input("x", {1, 2, 1, 2});
  b.init("w", Tensor::from_vector<float>({2, 2, 1, 1}, {1, 0, 0, 1}))
      .node("Conv", {"x", "w"}, {"c"}, "conv")
      .attr("kernel_shape", std::vector<int64_t>{1, 1});
  b.init("s", Tensor::from_vector<float>({2}, {1, 1}))
      .init("bias", Tensor::from_vector<float>({2}, {0, 0}))
      .init("mean", Tensor::from_vector<float>({2}, {0, 0}))
      .init("var", Tensor::from_vector<float>({2}, {1, 1}))
      .node("BatchNormalization", {"c", "s", "bias", "mean", "var"}, {"y"}, "bn");
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  // Sample 0: channel 0 {1, 3} (mean 2, variance 1), channel 1 {127, -127} (0, 16129).
  // Sample 1: channel 0 {4, 4} (4, 0), channel 1 {-1, 1} (0, 1).
  std::vector<TensorMap> samples = {{{"x", Tensor::from_vector<float>({1, 2, 1, 2}, {1, 3, 127, -127})}},
                                    {{"x", Tensor::from_vector<float>({1, 2, 1, 2}, {4, 4, -1, 1})}}};
  MemorySampleSource data(samples);
  const Platform& trt = platform_by_name("trt");
  const auto r = transform::update_bn(g, data, trt, minmax_ranges(g, samples), weight_ranges(g), {}, {});
  ASSERT_EQ(r.updated, std::vector<std::string>{"bn"});
  const auto& bn = g.node(g.node_index("bn"));
  const auto mean = g.get_initializer(bn.input(3)).to_f32_vector();
  const auto var = g.get_initializer(bn.input(4)).to_f32_vector();
  // mean: 0 -> 0.2 -> 0.58 and 0 -> 0 -> 0; var: 1 -> 1.0 -> 0.9 and 1 -> 1613.8 -> 1452.52.
  EXPECT_NEAR(mean[0], 0.58f, 1e-5);
  EXPECT_NEAR(mean[1], 0.f, 1e-5);
  EXPECT_NEAR(var[0], 0.9f, 1e-5);
  EXPECT_NEAR(var[1], 1452.52f, 1e-2);
}

// Per-sample, per-channel mean and population variance of `tensor` in `g`.
void sample_moments(const OnnxGraph& g, const std::vector<TensorMap>& samples, const std::string& tensor,
                    std::vector<std::vector<double>>& means, std::vector<std::vector<double>>& vars) {
  Session s(g);
  for (const auto& f : samples) {
    const Tensor t = s.run(f, {tensor}).at(tensor);
    const int64_t c = t.dim(1), inner = t.numel() / c;
    std::vector<double> m(c), v(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      double a = 0, q = 0;
      for (int64_t k = 0; k < inner; ++k) a += t.data<float>()[ch * inner + k];
      m[ch] = a / inner;
      for (int64_t k = 0; k < inner; ++k) q += std::pow(t.data<float>()[ch * inner + k] - m[ch], 2);
      v[ch] = q / inner;
    }
    means.push_back(m);
    vars.push_back(v);
  }
}

TEST(UpdateBn, LaterBnSeesTheEarlierUpdate) {
  ModelBuilder b(13);
  b.input("x", {1, 3, 6, 6});
  add_conv(b, "conv1", "x", "c1", 3, 4, 3, 1, 1, 61);
  const auto bn = [&](const std::string& name, const std::string& in, const std::string& out, int64_t c,
                      uint64_t seed) {
    b.init(name + "_s", random_tensor({c}, seed, 0.5f, 2.f))
        .init(name + "_b", random_tensor({c}, seed + 1, -1.f, 1.f))
        .init(name + "_m", random_tensor({c}, seed + 2, -3.f, 3.f))
        .init(name + "_v", random_tensor({c}, seed + 3, 1.f, 9.f))
        .node("BatchNormalization", {in, name + "_s", name + "_b", name + "_m", name + "_v"}, {out}, name);
  };
  bn("bn1", "c1", "c1b", 4, 70);
  b.node("Relu", {"c1b"}, {"r1"}, "relu1");
  add_conv(b, "conv2", "r1", "c2", 4, 5, 3, 1, 1, 62);
  bn("bn2", "c2", "y", 5, 80);
  b.output("y");
  OnnxGraph original = b.graph();
  prepare_model(original, 13, false);
  const auto samples = random_samples("x", {1, 3, 6, 6}, 5, 12, -1.f, 1.f);
  const Platform& snpe = platform_by_name("snpe");
  const ActRanges act = minmax_ranges(original, samples);
  const WeightRanges weight = weight_ranges(original);
  OnnxGraph g = original.copy();
  MemorySampleSource data(samples);
  const auto r = transform::update_bn(g, data, snpe, act, weight, {}, {});
  ASSERT_EQ(r.updated.size(), 2u);
  EXPECT_EQ(r.passes, 2);

  // bn2's input in the QDQ model of the final model (bn2's own statistics do not affect it).
  const auto expected_bn2 = [&](const OnnxGraph& measured_in) {
    std::vector<std::vector<double>> m, v;
    sample_moments(build_qdq(measured_in, snpe, act, weight, {}).graph, samples, "c2", m, v);
    return transform::update_bn_statistics(original.get_initializer("bn2_m").to_f32_vector(),
                                           original.get_initializer("bn2_v").to_f32_vector(), m, v);
  };
  const auto [want_m, want_v] = expected_bn2(g);
  const auto& node = g.node(g.node_index("bn2"));
  const auto got_m = g.get_initializer(node.input(3)).to_f32_vector();
  const auto got_v = g.get_initializer(node.input(4)).to_f32_vector();
  const auto [stale_m, stale_v] = expected_bn2(original);  // measured without bn1's update
  double moved = 0;
  for (size_t c = 0; c < got_m.size(); ++c) {
    EXPECT_NEAR(got_m[c], want_m[c], 1e-4 * (1 + std::fabs(want_m[c]))) << c;
    EXPECT_NEAR(got_v[c], want_v[c], 1e-4 * (1 + std::fabs(want_v[c]))) << c;
    moved = std::max(moved, static_cast<double>(std::fabs(stale_m[c] - want_m[c])));
  }
  EXPECT_GT(moved, 1e-3) << "bn1's update should change what bn2 sees";
}

}  // namespace
}  // namespace dpl::test
