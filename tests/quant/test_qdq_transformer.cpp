// The transformer placement (QdqOptions::transformer, --optim_transformer; docs/transformers.md)
// on a hand-built pre-norm encoder block (tests/graph/transformer_graphs.h): which tensors get
// Q/DQ pairs, on which grid, and what the log's pattern table says each quantized node matched.
#include <gtest/gtest.h>

#include <cmath>

#include "graph/transformer_graphs.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"

namespace dpl::test {
namespace {

using Names = std::vector<std::string>;

QdqModel build(const OnnxGraph& g, const std::string& platform, bool transformer) {
  QdqOptions o;
  o.transformer = transformer;
  return build_qdq(g, platform_by_name(platform), uniform_act_ranges(g, -1.f, 2.f), all_weight_ranges(g), o);
}

Names pair_tensors(const QdqModel& m) {
  Names r;
  for (const auto& p : m.pairs) r.push_back(p.tensor);
  return r;
}

void expect_valid(const QdqModel& m) {
  std::string err = check_onnx(m.graph, true);
  EXPECT_TRUE(err.empty()) << err;
}

TEST(QdqTransformer, EncoderBlockOnTrt) {
  const OnnxGraph g = encoder_block();
  const QdqModel m = build(g, "trt", true);
  expect_valid(m);
  // Every MatMul's inputs (weights and activations), the residual Adds' inputs (trt quantizes
  // Add); nothing inside the LayerNorms, the GELU, the bias Adds or the attention scaling.
  EXPECT_EQ(pair_tensors(m), (Names{"ln1", "q_W", "k_W", "v_W", "qs", "kt", "p", "v", "o", "proj_W", "x", "proj", "ln2",
                                    "fc1_W", "g", "fc2_W", "r", "h2"}));
  // Constant weights per output channel (the last axis) on trt, activations per tensor.
  for (const auto& p : m.pairs) {
    SCOPED_TRACE(p.tensor);
    EXPECT_EQ(p.axis, p.weight ? 1 : -1);
    EXPECT_EQ(p.weight, p.tensor.size() > 2 && p.tensor.substr(p.tensor.size() - 2) == "_W");
  }
  EXPECT_EQ(inputs_of(m.graph, "attn_QK"), (Names{"qs_dq", "kt_dq"}));
  EXPECT_EQ(inputs_of(m.graph, "attn_PV"), (Names{"p_dq", "v_dq"}));
  EXPECT_EQ(inputs_of(m.graph, "q_Add"), (Names{"q_b", "q_mm"}));        // the bias Add reads the product
  EXPECT_EQ(inputs_of(m.graph, "gelu_Add"), (Names{"gelu_e", "gelu_one"}));  // inside the GELU

  EXPECT_EQ(m.matched.at("q_MatMul"), "linear (constant weight)");
  EXPECT_EQ(m.matched.at("attn_QK"), "attention Q.K^T");
  EXPECT_EQ(m.matched.at("attn_PV"), "attention probabilities.V");
  EXPECT_EQ(m.matched.at("res1"), "Add");
  // The Adds trt would quantize that the patterns keep in float.
  EXPECT_EQ(m.kept_float.at("LayerNorm"), (Names{"ln1_AddEps", "ln1_Beta", "ln2_AddEps", "ln2_Beta"}));
  EXPECT_EQ(m.kept_float.at("linear bias Add"), (Names{"q_Add", "k_Add", "v_Add", "proj_Add", "fc1_Add", "fc2_Add"}));
  EXPECT_EQ(m.kept_float.at("GELU (Erf)"), (Names{"gelu_Add"}));
}

// Without the flag trt quantizes no MatMul, and the element-wise Adds inside the patterns get
// pairs (the placement the original tool makes).
TEST(QdqTransformer, EncoderBlockOnTrtWithoutTheFlag) {
  const OnnxGraph g = encoder_block();
  const QdqModel m = build(g, "trt", false);
  expect_valid(m);
  EXPECT_EQ(pair_tensors(m), (Names{"ln1_var", "ln1_g", "q_mm", "k_mm", "v_mm", "proj_mm", "x", "proj", "ln2_var",
                                    "ln2_g", "fc1_mm", "gelu_e", "fc2_mm", "r", "h2"}));
  EXPECT_TRUE(m.matched.empty());
  EXPECT_TRUE(m.kept_float.empty());
}

// snpe quantizes Mul too, weights per tensor, and the network output: the scaling Mul, the
// GELU's and LayerNorm's Muls stay float; MatMul weights follow the platform (per tensor).
TEST(QdqTransformer, EncoderBlockOnSnpe) {
  const OnnxGraph g = encoder_block();
  const QdqModel m = build(g, "snpe", true);
  expect_valid(m);
  EXPECT_EQ(pair_tensors(m), (Names{"ln1", "q_W", "k_W", "v_W", "qs", "kt", "p", "v", "o", "proj_W", "x", "proj", "ln2",
                                    "fc1_W", "g", "fc2_W", "r", "h2", "y"}));
  for (const auto& p : m.pairs) EXPECT_EQ(p.axis, -1) << p.tensor;
  EXPECT_EQ(m.kept_float.at("attention scaling"), (Names{"attn_Scale"}));
  EXPECT_EQ(m.kept_float.at("GELU (Erf)"), (Names{"gelu_Add", "gelu_Mul", "gelu_Mul_1"}));
  EXPECT_EQ(m.kept_float.at("LayerNorm"),
            (Names{"ln1_AddEps", "ln1_Gamma", "ln1_Beta", "ln2_AddEps", "ln2_Gamma", "ln2_Beta"}));
}

// PP-OCRv4's convolution blocks on trt: the affine Add and HardSwish's Add + 3 are quantized
// without the flag (the placement that reads 35% of the text lines at -A minmax, see
// docs/transformers.md) and kept float with it; the residual Add of two activations stays.
TEST(QdqTransformer, AffineAndHardSwishOnTrt) {
  const OnnxGraph g = conv_affine_hard_swish();
  const QdqModel plain = build(g, "trt", false);
  EXPECT_EQ(pair_tensors(plain), (Names{"x", "W", "cs", "ct", "h1", "h3"}));
  const QdqModel m = build(g, "trt", true);
  expect_valid(m);
  EXPECT_EQ(pair_tensors(m), (Names{"x", "W", "h3"}));
  EXPECT_EQ(m.kept_float.at("element-wise with a constant"), (Names{"lab_Add"}));
  EXPECT_EQ(m.kept_float.at("HardSwish"), (Names{"hs1_Add", "hs2_Add"}));
  EXPECT_EQ(m.matched.at("residual"), "Add");
}

// The QDQ model of the placement runs in the project's runtime and stays close to FP32
// (8-bit grids on a well-conditioned block).
TEST(QdqTransformer, EncoderBlockRunsNearFloat) {
  const OnnxGraph g = encoder_block();
  std::vector<TensorMap> feeds;
  for (uint64_t s = 0; s < 4; ++s) feeds.push_back({{"x", random_tensor({1, 4, 8}, 100 + s, -2.f, 2.f)}});
  QdqOptions o;
  o.transformer = true;
  const QdqModel m =
      build_qdq(g, platform_by_name("trt"), minmax_ranges(g, feeds), all_weight_ranges(g), o);
  Session fp(g), q(m.graph);
  for (const auto& f : feeds) {
    const Tensor a = fp.run(f).at("y"), b = q.run(f).at("y");
    double dot = 0, na = 0, nb = 0;
    bool same = true;
    for (int64_t i = 0; i < a.numel(); ++i) {
      same &= a.data<float>()[i] == b.data<float>()[i];
      dot += a.data<float>()[i] * b.data<float>()[i];
      na += a.data<float>()[i] * a.data<float>()[i];
      nb += b.data<float>()[i] * b.data<float>()[i];
    }
    EXPECT_GT(dot / std::sqrt(na * nb), 0.999);
    EXPECT_FALSE(same) << "the QDQ model computed exactly the float result: nothing quantized?";
  }
}

}  // namespace
}  // namespace dpl::test
