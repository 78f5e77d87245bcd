// Bias correction (transform/bias_correction.h): after it, the QDQ model built from the
// corrected model has, for every Conv and Gemm and every output channel, the same mean
// output over the calibration samples and spatial positions as the FP32 model (checked
// to 1e-5, where the uncorrected error is far larger), with per-tensor asymmetric weights
// (snpe) and per-channel symmetric ones (trt), batch 1 and 2; nodes without a bias get one.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "calib/tensor_cali.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "transform/bias_correction.h"
#include "transform/transform_test_util.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

const std::vector<std::string> kOutputs = {"c1", "c2", "y", "z"};

OnnxGraph bc_model() {
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  add_conv(b, "conv1", "x", "c1", 3, 8, 3, 1, 1, 41, /*bias=*/false);
  b.node("Relu", {"c1"}, {"r1"}, "relu1");
  add_conv(b, "conv2", "r1", "c2", 8, 8, 3, 2, 1, 42);
  b.node("Relu", {"c2"}, {"r2"}, "relu2")
      .node("GlobalAveragePool", {"r2"}, {"gap"}, "gap")
      .node("Flatten", {"gap"}, {"f"}, "flatten");
  b.init("g1_w", random_tensor({4, 8}, 43, -1.f, 1.f))
      .init("g1_c", random_tensor({4}, 44, -1.f, 1.f))
      .node("Gemm", {"f", "g1_w", "g1_c"}, {"y"}, "gemm1")
      .attr("transB", int64_t{1})
      .attr("beta", 0.5f);
  b.init("g2_w", random_tensor({4, 3}, 45, -1.f, 1.f)).node("Gemm", {"y", "g2_w"}, {"z"}, "gemm2");
  b.output("z");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

// Per-channel mean (axis 1) of each tensor over the samples, from an unfused session.
std::map<std::string, std::vector<double>> channel_means(const OnnxGraph& g, const std::vector<TensorMap>& samples) {
  Session s(g);
  std::map<std::string, std::vector<double>> sum;
  std::map<std::string, double> count;
  for (const auto& f : samples) {
    const TensorMap out = s.run(f, kOutputs);
    for (const auto& name : kOutputs) {
      const Tensor& t = out.at(name);
      const int64_t c = t.dim(1), inner = t.numel() / (t.dim(0) * c);
      auto& v = sum[name];
      v.resize(c, 0.0);
      for (int64_t n = 0; n < t.dim(0); ++n)
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t k = 0; k < inner; ++k) v[ch] += t.data<float>()[(n * c + ch) * inner + k];
      count[name] += static_cast<double>(t.dim(0) * inner);
    }
  }
  for (auto& [name, v] : sum)
    for (auto& x : v) x /= count[name];
  return sum;
}

// Largest |mean FP - mean QDQ| over the channels of `tensor`.
double max_mean_error(const std::map<std::string, std::vector<double>>& fp,
                      const std::map<std::string, std::vector<double>>& q, const std::string& tensor) {
  double m = 0;
  for (size_t c = 0; c < fp.at(tensor).size(); ++c) m = std::max(m, std::fabs(fp.at(tensor)[c] - q.at(tensor)[c]));
  return m;
}

void check_bias_correction(const std::string& platform_name, int batch) {
  const Platform& platform = platform_by_name(platform_name);
  const OnnxGraph original = bc_model();
  const auto samples = random_samples("x", {1, 3, 8, 8}, 6, 9, -1.f, 2.f);
  const ActRanges act = minmax_ranges(original, samples);
  const WeightRanges weight = weight_ranges(original);
  const auto fp = channel_means(original, samples);
  const auto q_before = channel_means(build_qdq(original, platform, act, weight, {}).graph, samples);
  double worst_before = 0;
  for (const auto& t : kOutputs) worst_before = std::max(worst_before, max_mean_error(fp, q_before, t));
  ASSERT_GT(worst_before, 1e-3) << "quantization should move some channel mean";

  OnnxGraph g = original.copy();
  MemorySampleSource data(samples);
  transform::TransformRunOptions run;
  run.batch = batch;
  const auto r = transform::bias_correction(g, data, platform, act, weight, {}, run);
  ASSERT_EQ(r.corrected.size(), 4u);
  EXPECT_EQ(r.passes, 4) << "a chain: one pass per node";
  // conv1 and gemm2 had no bias.
  EXPECT_EQ(g.node(g.node_index("conv1")).input_size(), 3);
  EXPECT_EQ(g.node(g.node_index("gemm2")).input_size(), 3);
  const auto q_after = channel_means(build_qdq(g, platform, act, weight, {}).graph, samples);
  for (const auto& t : kOutputs) EXPECT_LE(max_mean_error(fp, q_after, t), 1e-5) << t;
  EXPECT_EQ(check_onnx(g, true), "");
}

TEST(BiasCorrection, MeanOutputErrorIsZeroPerTensorAsymmetric) { check_bias_correction("snpe", 1); }
TEST(BiasCorrection, MeanOutputErrorIsZeroPerChannelSymmetricBatch2) { check_bias_correction("trt", 2); }

}  // namespace
}  // namespace dpl::test
