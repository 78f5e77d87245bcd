// The block rule of BRECQ / QDrop (transform/recon_block.h) on graphs shaped like ResNet,
// MobileNetV2 and YOLOX, on the original tool's chain rule, and on the real fmnist-dev and
// YOLOX-Nano models: each block's layers, its kind and its boundary tensors.
#include <gtest/gtest.h>

#include <filesystem>

#include "graph/model_builder.h"
#include "optimizer/prepare.h"
#include "shared_models.h"
#include "transform/recon_block.h"
#include "transform/transform_test_util.h"

namespace dpl::test {
namespace {

using transform::BlockRule;
using transform::ReconBlock;

std::vector<std::string> layer_names(const OnnxGraph& g, const ReconBlock& b) {
  std::vector<std::string> r;
  for (int l : b.layers) r.push_back(g.node(l).name());
  return r;
}

void conv_act(ModelBuilder& b, const std::string& name, const std::string& in, const std::string& out, int64_t cin,
              int64_t cout, int64_t k, int64_t group, const std::string& act, uint64_t seed) {
  if (act.empty()) {
    add_conv(b, name, in, out, cin, cout, k, group, k / 2, seed);
    return;
  }
  add_conv(b, name, in, name + "_out", cin, cout, k, group, k / 2, seed);
  if (act == "Relu") {
    b.node("Relu", {name + "_out"}, {out}, name + "_relu");
  } else if (act == "Clip") {
    b.init(name + "_lo", Tensor::scalar<float>(0.f)).init(name + "_hi", Tensor::scalar<float>(6.f));
    b.node("Clip", {name + "_out", name + "_lo", name + "_hi"}, {out}, name + "_clip");
  } else if (act == "SiLU") {
    b.node("Sigmoid", {name + "_out"}, {name + "_sig"}, name + "_sigmoid");
    b.node("Mul", {name + "_out", name + "_sig"}, {out}, name + "_silu");
  }
}

// stem -> pool -> BasicBlock -> BasicBlock with a 1x1 downsample -> GAP -> Flatten -> fc.
OnnxGraph resnet_like() {
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  conv_act(b, "stem", "x", "s", 3, 8, 3, 1, "Relu", 1);
  b.node("MaxPool", {"s"}, {"p"}, "pool").attr("kernel_shape", std::vector<int64_t>{2, 2}).attr(
      "strides", std::vector<int64_t>{2, 2});
  conv_act(b, "a1", "p", "a1r", 8, 8, 3, 1, "Relu", 2);
  conv_act(b, "a2", "a1r", "a2o", 8, 8, 3, 1, "", 3);
  b.node("Add", {"a2o", "p"}, {"aadd"}, "a_add").node("Relu", {"aadd"}, {"r1"}, "a_relu");
  conv_act(b, "b1", "r1", "b1r", 8, 16, 3, 1, "Relu", 4);
  conv_act(b, "b2", "b1r", "b2o", 16, 16, 3, 1, "", 5);
  conv_act(b, "ds", "r1", "dso", 8, 16, 1, 1, "", 6);
  b.node("Add", {"b2o", "dso"}, {"badd"}, "b_add").node("Relu", {"badd"}, {"r2"}, "b_relu");
  b.node("GlobalAveragePool", {"r2"}, {"gap"}, "gap").node("Flatten", {"gap"}, {"f"}, "flatten");
  b.init("fc_w", random_tensor({16, 10}, 7, -1.f, 1.f)).init("fc_b", random_tensor({10}, 8, -1.f, 1.f));
  b.node("Gemm", {"f", "fc_w", "fc_b"}, {"y"}, "fc");
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

TEST(ReconBlocks, ResNetBlocksHoldTheResidualAddAndTheDownsample) {
  const OnnxGraph g = resnet_like();
  const auto blocks = transform::find_recon_blocks(g, BlockRule::Network);
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(layer_names(g, blocks[0]), (std::vector<std::string>{"stem"}));
  EXPECT_EQ(blocks[0].input, "x");
  EXPECT_EQ(blocks[0].output, "p");  // the stem with its Relu and the pooling after it
  EXPECT_EQ(layer_names(g, blocks[1]), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(blocks[1].kind, "residual");
  EXPECT_EQ(blocks[1].input, "p");
  EXPECT_EQ(blocks[1].output, "r1");  // after the Add and its Relu
  EXPECT_EQ(layer_names(g, blocks[2]), (std::vector<std::string>{"b1", "b2", "ds"}));
  EXPECT_EQ(blocks[2].input, "r1");
  EXPECT_EQ(blocks[2].output, "f");   // the layer-free tail up to the classifier
  EXPECT_EQ(layer_names(g, blocks[3]), (std::vector<std::string>{"fc"}));
  EXPECT_EQ(blocks[3].output, "y");
  const auto& nodes2 = blocks[2].nodes;
  auto has = [&](const std::string& name) {
    return std::any_of(nodes2.begin(), nodes2.end(), [&](int n) { return g.node(n).name() == name; });
  };
  EXPECT_TRUE(has("b_add") && has("b_relu") && has("gap") && has("flatten"));
}

TEST(ReconBlocks, TheOriginalRuleKeepsItsChainsWithoutTheAdd) {
  const OnnxGraph g = resnet_like();
  const auto blocks = transform::find_recon_blocks(g, BlockRule::Original);
  ASSERT_EQ(blocks.size(), 5u);
  EXPECT_EQ(layer_names(g, blocks[0]), (std::vector<std::string>{"stem"}));
  EXPECT_EQ(blocks[0].output, "s");  // after the stem's Relu, not the pooling
  EXPECT_EQ(layer_names(g, blocks[1]), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(blocks[1].output, "a2o");  // before the Add
  EXPECT_EQ(layer_names(g, blocks[2]), (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(layer_names(g, blocks[3]), (std::vector<std::string>{"ds"}));
  EXPECT_EQ(layer_names(g, blocks[4]), (std::vector<std::string>{"fc"}));
  // A skipped layer starts no block.
  const auto skipped = transform::find_recon_blocks(g, BlockRule::Original, {"a1"});
  ASSERT_EQ(skipped.size(), 5u);
  EXPECT_EQ(layer_names(g, skipped[1]), (std::vector<std::string>{"a2"}));
}

// stem, an inverted residual without expansion, one without a residual, one with it, the
// last 1x1 conv, the classifier.
OnnxGraph mbv2_like() {
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  conv_act(b, "stem", "x", "s", 3, 8, 3, 1, "Clip", 1);
  conv_act(b, "dw1", "s", "d1", 8, 8, 3, 8, "Clip", 2);
  conv_act(b, "pw1", "d1", "p1", 8, 4, 1, 1, "", 3);
  conv_act(b, "ex2", "p1", "e2", 4, 12, 1, 1, "Clip", 4);
  conv_act(b, "dw2", "e2", "d2", 12, 12, 3, 12, "Clip", 5);
  conv_act(b, "pw2", "d2", "p2", 12, 6, 1, 1, "", 6);
  conv_act(b, "ex3", "p2", "e3", 6, 12, 1, 1, "Clip", 7);
  conv_act(b, "dw3", "e3", "d3", 12, 12, 3, 12, "Clip", 8);
  conv_act(b, "pw3", "d3", "p3", 12, 6, 1, 1, "", 9);
  b.node("Add", {"p3", "p2"}, {"r3"}, "add3");
  conv_act(b, "last", "r3", "l", 6, 16, 1, 1, "Clip", 10);
  b.node("GlobalAveragePool", {"l"}, {"gap"}, "gap").node("Flatten", {"gap"}, {"f"}, "flatten");
  b.init("fc_w", random_tensor({16, 10}, 11, -1.f, 1.f));
  b.node("Gemm", {"f", "fc_w"}, {"y"}, "fc");
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

TEST(ReconBlocks, MobileNetV2InvertedResidualIsOneBlockAndChainsStackUpToThree) {
  const OnnxGraph g = mbv2_like();
  const auto blocks = transform::find_recon_blocks(g, BlockRule::Network);
  std::vector<std::vector<std::string>> got;
  for (const auto& b : blocks) got.push_back(layer_names(g, b));
  const std::vector<std::vector<std::string>> want = {
      {"stem"}, {"dw1", "pw1", "ex2"}, {"dw2", "pw2"}, {"ex3", "dw3", "pw3"}, {"last"}, {"fc"}};
  EXPECT_EQ(got, want);
  ASSERT_EQ(blocks.size(), want.size());
  EXPECT_EQ(blocks[3].kind, "residual");
  EXPECT_EQ(blocks[3].input, "p2");
  EXPECT_EQ(blocks[3].output, "r3");
  EXPECT_EQ(blocks[1].output, "e2");  // after ex2's Clip
  // The original rule stops at Clip: every layer alone, except pw1 -> ex2 (Conv to Conv).
  const auto orig = transform::find_recon_blocks(g, BlockRule::Original);
  std::vector<std::vector<std::string>> og;
  for (const auto& b : orig) og.push_back(layer_names(g, b));
  EXPECT_EQ(og[2], (std::vector<std::string>{"pw1", "ex2"}));
}

// A CSP block (two branches joined by a Concat, a residual bottleneck inside, SiLU), then a
// neck: c3 is read again at the very end, so the stretch from a0 to the Concat has 10 layers;
// divided with c3 free, a0 stands alone and n1..n9 with the Add that closes over a0 is a join
// of 9 layers, more than kMaxBlockLayers: split into layers.
OnnxGraph yolox_like() {
  ModelBuilder b(13);
  b.input("x", {1, 4, 8, 8});
  conv_act(b, "stem", "x", "s", 4, 8, 3, 1, "SiLU", 1);
  conv_act(b, "csp_c1", "s", "c1", 8, 4, 1, 1, "SiLU", 2);
  conv_act(b, "csp_b1", "c1", "b1", 4, 4, 1, 1, "SiLU", 3);
  conv_act(b, "csp_b2", "b1", "b2", 4, 4, 3, 1, "SiLU", 4);
  b.node("Add", {"b2", "c1"}, {"bo"}, "csp_add");
  conv_act(b, "csp_c2", "s", "c2", 8, 4, 1, 1, "SiLU", 5);
  b.node("Concat", {"bo", "c2"}, {"cat"}, "csp_cat").attr("axis", int64_t{1});
  conv_act(b, "csp_c3", "cat", "c3", 8, 8, 1, 1, "SiLU", 6);
  conv_act(b, "a0", "c3", "na0", 8, 8, 1, 1, "SiLU", 7);
  std::string prev = "na0";
  for (int i = 1; i <= 9; ++i) {
    conv_act(b, "n" + std::to_string(i), prev, "n" + std::to_string(i) + "o", 8, 8, 1, 1, "SiLU", 20 + i);
    prev = "n" + std::to_string(i) + "o";
  }
  b.node("Add", {prev, "na0"}, {"na"}, "neck_add");
  b.node("Concat", {"na", "c3"}, {"head_in"}, "neck_cat").attr("axis", int64_t{1});
  conv_act(b, "head", "head_in", "y", 16, 5, 1, 1, "", 40);
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

TEST(ReconBlocks, YoloxCspIsOneBlockAndALargeJoinIsDividedThenSplit) {
  const OnnxGraph g = yolox_like();
  const auto blocks = transform::find_recon_blocks(g, BlockRule::Network);
  std::string listing;
  for (const auto& b : blocks) listing += transform::describe(g, b) + "\n";
  SCOPED_TRACE(listing);
  ASSERT_GE(blocks.size(), 5u);
  EXPECT_EQ(layer_names(g, blocks[0]), (std::vector<std::string>{"stem"}));
  EXPECT_EQ(blocks[0].output, "s");  // after the SiLU
  EXPECT_EQ(layer_names(g, blocks[1]), (std::vector<std::string>{"csp_c1", "csp_b1", "csp_b2", "csp_c2"}));
  EXPECT_EQ(blocks[1].kind, "residual");
  EXPECT_EQ(blocks[1].input, "s");
  EXPECT_EQ(blocks[1].output, "cat");
  EXPECT_EQ(layer_names(g, blocks[2]), (std::vector<std::string>{"csp_c3"}));
  EXPECT_EQ(blocks[2].output, "c3");
  EXPECT_EQ(layer_names(g, blocks[3]), (std::vector<std::string>{"a0"}));
  EXPECT_EQ(blocks[3].input, "c3");
  int split = 0;
  for (const auto& b : blocks) split += b.kind == "layer of a large join";
  EXPECT_EQ(split, 9);
  EXPECT_EQ(layer_names(g, blocks.back()), (std::vector<std::string>{"head"}));
  // Every weighted layer is in exactly one block.
  std::map<std::string, int> seen;
  for (const auto& b : blocks) {
    EXPECT_LE(static_cast<int>(b.layers.size()), transform::kMaxBlockLayers);
    for (const auto& n : layer_names(g, b)) ++seen[n];
  }
  EXPECT_EQ(seen.size(), 17u);
  for (const auto& [n, c] : seen) EXPECT_EQ(c, 1) << n;
}

TEST(ReconBlocks, RealModels) {
  namespace fs = std::filesystem;
  const fs::path dev = kSharedModels / "fmnist-dev";
  if (!fs::is_directory(dev)) GTEST_SKIP() << "needs " << dev << " (../shared/models beside the checkout)";
  {
    OnnxGraph g = OnnxGraph::load((dev / "resnet_dev.onnx").string());
    prepare_model(g, 13, false);
    const auto blocks = transform::find_recon_blocks(g, BlockRule::Network);
    int residual = 0, layers = 0;
    for (const auto& b : blocks) {
      residual += b.kind == "residual";
      layers += static_cast<int>(b.layers.size());
      EXPECT_FALSE(b.input.empty());
    }
    EXPECT_GE(residual, 3);
    int weighted = 0;
    for (int i = 0; i < g.node_count(); ++i) weighted += transform::is_weighted_layer(g, g.node(i));
    EXPECT_EQ(layers, weighted);
    EXPECT_EQ(blocks.front().layers.size(), 1u);  // stem
    EXPECT_EQ(blocks.back().layers.size(), 1u);   // classifier
  }
  {
    OnnxGraph g = OnnxGraph::load((dev / "mbv2_dev.onnx").string());
    prepare_model(g, 13, false);
    int residual = 0;
    for (const auto& b : transform::find_recon_blocks(g, BlockRule::Network)) {
      residual += b.kind == "residual";
      if (b.kind == "residual") {
        EXPECT_EQ(b.layers.size(), 3u) << transform::describe(g, b);
      }
    }
    EXPECT_GE(residual, 2);
  }
  const fs::path yolox = kSharedModels / "yolox-nano" / "yolox_nano.onnx";
  if (fs::exists(yolox)) {
    OnnxGraph g = OnnxGraph::load(yolox.string());
    prepare_model(g, 13, false);
    const auto blocks = transform::find_recon_blocks(g, BlockRule::Network);
    int residual = 0, layers = 0;
    std::string listing;
    for (const auto& b : blocks) {
      residual += b.kind == "residual";
      layers += static_cast<int>(b.layers.size());
      listing += transform::describe(g, b) + "\n";
    }
    int weighted = 0;
    for (int i = 0; i < g.node_count(); ++i) weighted += transform::is_weighted_layer(g, g.node(i));
    EXPECT_EQ(layers, weighted);
    EXPECT_GE(residual, 4) << listing;  // the backbone's CSP blocks
  }
}

}  // namespace
}  // namespace dpl::test
