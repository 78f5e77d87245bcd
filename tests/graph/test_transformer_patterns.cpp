// graph/transformer_patterns.h on hand-built blocks (each form the matchers claim) and on the
// two real transformers of ../shared/models.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "graph/transformer_graphs.h"
#include "graph/transformer_patterns.h"
#include "optimizer/prepare.h"
#include "optimizer/simplifier.h"
#include "shared_models.h"

namespace dpl::test {
namespace {

using Names = std::vector<std::string>;

// The node names of each match of kind `k`, in graph order.
std::vector<Names> matches_of(const OnnxGraph& g, const TransformerPatterns& t, PatternKind k) {
  std::vector<Names> r;
  for (const auto& m : t.matches) {
    if (m.kind != k) continue;
    Names n;
    for (int i : m.nodes) n.push_back(g.node(i).name());
    r.push_back(n);
  }
  return r;
}

MatMulRole role(const OnnxGraph& g, const TransformerPatterns& t, const std::string& node) {
  return t.matmul.at(g.node_index(node));
}

TEST(TransformerPatterns, EncoderBlock) {
  OnnxGraph g = encoder_block();
  TransformerPatterns t = find_transformer_patterns(g);
  EXPECT_TRUE(t.is_transformer());
  EXPECT_EQ(matches_of(g, t, PatternKind::LayerNorm),
            (std::vector<Names>{{"ln1_ReduceMean", "ln1_Sub", "ln1_Pow", "ln1_ReduceMean_1", "ln1_AddEps", "ln1_Sqrt",
                                 "ln1_Norm", "ln1_Gamma", "ln1_Beta"},
                                {"ln2_ReduceMean", "ln2_Sub", "ln2_Pow", "ln2_ReduceMean_1", "ln2_AddEps", "ln2_Sqrt",
                                 "ln2_Norm", "ln2_Gamma", "ln2_Beta"}}));
  EXPECT_EQ(matches_of(g, t, PatternKind::GeluErf),
            (std::vector<Names>{{"gelu_Div", "gelu_Erf", "gelu_Add", "gelu_Mul", "gelu_Mul_1"}}));
  EXPECT_EQ(matches_of(g, t, PatternKind::Softmax), (std::vector<Names>{{"attn_Softmax"}}));
  EXPECT_EQ(matches_of(g, t, PatternKind::AttentionScale), (std::vector<Names>{{"attn_Scale"}}));
  EXPECT_EQ(t.count(PatternKind::LinearBias), 6);  // q, k, v, proj, fc1, fc2
  EXPECT_EQ(t.count(PatternKind::Swish), 0);
  EXPECT_EQ(role(g, t, "q_MatMul"), MatMulRole::Weight);
  EXPECT_EQ(role(g, t, "attn_QK"), MatMulRole::AttentionScores);
  EXPECT_EQ(role(g, t, "attn_PV"), MatMulRole::AttentionContext);
  // The residual Adds are no pattern's.
  EXPECT_FALSE(t.inside(g.node_index("res1")));
  EXPECT_FALSE(t.inside(g.node_index("res2")));
  // The LayerNorm output is the pattern's output, read by the three projections.
  EXPECT_EQ(t.matches[t.match_of.at(g.node_index("ln1_Beta"))].output, "ln1");
}

TEST(TransformerPatterns, GeluTanhBothCubesSwishAndReciprocalLayerNorm) {
  ModelBuilder b;
  b.input("x", {2, 8});
  add_gelu_tanh(b, "x", "a", "t1_", true);
  add_gelu_tanh(b, "a", "c", "t2_", false);
  add_swish(b, "c", "s", "sw_");
  add_layer_norm(b, "s", "y", "ln_", 8, /*reciprocal=*/true);
  b.output("y", {2, 8});
  OnnxGraph g = b.graph();
  TransformerPatterns t = find_transformer_patterns(g);
  EXPECT_EQ(matches_of(g, t, PatternKind::GeluTanh),
            (std::vector<Names>{{"t1_Pow", "t1_MulC", "t1_AddIn", "t1_MulK", "t1_Tanh", "t1_Add1", "t1_Half", "t1_Out"},
                                {"t2_Sq", "t2_Cube", "t2_MulC", "t2_AddIn", "t2_MulK", "t2_Tanh", "t2_Add1", "t2_Half",
                                 "t2_Out"}}));
  EXPECT_EQ(matches_of(g, t, PatternKind::Swish), (std::vector<Names>{{"sw_Beta", "sw_Sigmoid", "sw_Mul"}}));
  EXPECT_EQ(matches_of(g, t, PatternKind::LayerNorm),
            (std::vector<Names>{{"ln_ReduceMean", "ln_Sub", "ln_Pow", "ln_ReduceMean_1", "ln_AddEps", "ln_Sqrt",
                                 "ln_Reciprocal", "ln_Norm", "ln_Gamma", "ln_Beta"}}));
  EXPECT_TRUE(t.is_transformer());
}

// PP-OCRv4's convolution blocks: a learnable affine (Mul, Add of constants) and HardSwish in
// both orders; what no other pattern takes and has a constant operand is ConstOperand.
TEST(TransformerPatterns, HardSwishAndConstantOperands) {
  OnnxGraph g = conv_affine_hard_swish();
  TransformerPatterns t = find_transformer_patterns(g);
  EXPECT_EQ(matches_of(g, t, PatternKind::HardSwish),
            (std::vector<Names>{{"hs1_Add", "hs1_Clip", "hs1_Mul", "hs1_Div"},
                                {"hs2_Add", "hs2_Clip", "hs2_Sixth", "hs2_Mul"},
                                {"hsig", "hsig_Mul"}}));
  EXPECT_EQ(matches_of(g, t, PatternKind::ConstOperand), (std::vector<Names>{{"lab_Mul"}, {"lab_Add"}}));
  EXPECT_FALSE(t.inside(g.node_index("residual")));  // two activations
  EXPECT_FALSE(t.is_transformer());                   // none of these makes a transformer
}

// A tensor inside a would-be pattern that something else also reads breaks the match: keeping
// the pattern in float must not change what that reader sees.
TEST(TransformerPatterns, InnerTensorReadOutsideIsNoMatch) {
  ModelBuilder b;
  b.input("x", {2, 8});
  add_gelu_erf(b, "x", "y", "g_");
  b.node("Relu", {"g_e"}, {"z"}, "outside").output("y", {2, 8}).output("z", {2, 8});
  OnnxGraph g = b.graph();
  TransformerPatterns t = find_transformer_patterns(g);
  EXPECT_EQ(t.count(PatternKind::GeluErf), 0);
  EXPECT_FALSE(t.is_transformer());
}

// A plain CNN holds none of the transformer patterns (Softmax alone does not make one).
TEST(TransformerPatterns, ConvNetIsNoTransformer) {
  ModelBuilder b;
  b.input("x", {1, 2, 4, 4})
      .init("W", random_tensor({3, 2, 1, 1}, 1, -1.f, 1.f))
      .node("Conv", {"x", "W"}, {"c"}, "conv")
      .node("Flatten", {"c"}, {"f"}, "flat")
      .node("Softmax", {"f"}, {"y"}, "sm")
      .output("y", {1, 48});
  OnnxGraph g = b.graph();
  TransformerPatterns t = find_transformer_patterns(g);
  EXPECT_EQ(t.count(PatternKind::Softmax), 1);
  EXPECT_FALSE(t.is_transformer());
}

// The real models, prepared as the pipeline prepares them.
struct RealCase {
  const char* model;
  int layer_norms, gelu_erf, swish, hard_swish, softmax, weight_matmuls, scores, contexts;
};

TEST(TransformerPatterns, SharedModels) {
  if (!std::filesystem::is_directory(kSharedModels)) GTEST_SKIP() << kSharedModels << " not found";
  for (const RealCase& c : {RealCase{"fmnist-dev/vit_dev.onnx", 9, 4, 0, 0, 4, 16, 4, 4},
                            RealCase{"ppocr/ch_PP-OCRv4_rec_infer.onnx", 5, 0, 7, 28, 3, 9, 2, 2}}) {
    SCOPED_TRACE(c.model);
    OnnxGraph g = OnnxGraph::load((kSharedModels / c.model).string());
    SimplifyOptions so;
    so.input_shapes = ppocr_input_shapes(c.model);
    prepare_model(g, so);
    TransformerPatterns t = find_transformer_patterns(g);
    EXPECT_TRUE(t.is_transformer());
    EXPECT_EQ(t.count(PatternKind::LayerNorm), c.layer_norms);
    EXPECT_EQ(t.count(PatternKind::GeluErf), c.gelu_erf);
    EXPECT_EQ(t.count(PatternKind::Swish), c.swish);
    EXPECT_EQ(t.count(PatternKind::HardSwish), c.hard_swish);
    EXPECT_EQ(t.count(PatternKind::Softmax), c.softmax);
    int w = 0, s = 0, x = 0;
    for (const auto& [i, r] : t.matmul) {
      w += r == MatMulRole::Weight;
      s += r == MatMulRole::AttentionScores;
      x += r == MatMulRole::AttentionContext;
    }
    EXPECT_EQ(w, c.weight_matmuls);
    EXPECT_EQ(s, c.scores);
    EXPECT_EQ(x, c.contexts);
  }
}

}  // namespace
}  // namespace dpl::test
