// BN folding (transform/bn_fold.h): the folded model computes what the original computes,
// for BNs after Conv, grouped ConvTranspose and Gemm (transB 0 and 1, alpha/beta, a [1, M]
// bias), with a weight shared by two Convs, and leaves a BN alone when the layer's output
// has another reader.
#include <gtest/gtest.h>

#include "quant/qdq_test_util.h"
#include "transform/bn_fold.h"
#include "transform/transform_test_util.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

// BN `name` on `in` with C channels and random statistics.
void add_bn(ModelBuilder& b, const std::string& name, const std::string& in, const std::string& out, int64_t c,
            uint64_t seed) {
  b.init(name + "_s", random_tensor({c}, seed, 0.5f, 2.f))
      .init(name + "_b", random_tensor({c}, seed + 1, -1.f, 1.f))
      .init(name + "_m", random_tensor({c}, seed + 2, -0.5f, 0.5f))
      .init(name + "_v", random_tensor({c}, seed + 3, 0.1f, 2.f))
      .node("BatchNormalization", {in, name + "_s", name + "_b", name + "_m", name + "_v"}, {out}, name)
      .attr("epsilon", 1e-3f);
}

OnnxGraph bn_model() {
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  add_conv(b, "conv1", "x", "c1", 3, 4, 3, 1, 1, 11);
  add_bn(b, "bn1", "c1", "c1b", 4, 20);
  b.node("Relu", {"c1b"}, {"r1"}, "relu1");
  // ConvTranspose 4 -> 6, two groups, no bias: weight [4, 3, 2, 2].
  b.init("ct_w", random_tensor({4, 3, 2, 2}, 30, -1.f, 1.f))
      .node("ConvTranspose", {"r1", "ct_w"}, {"ct"}, "convt")
      .attr("group", int64_t{2})
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2});
  add_bn(b, "bn2", "ct", "ctb", 6, 40);
  b.node("GlobalAveragePool", {"ctb"}, {"gap"}, "gap").node("Flatten", {"gap"}, {"f"}, "flatten");
  // Gemm transB = 1 with alpha, beta and a [5] bias; Gemm transB = 0 with a [1, 4] bias.
  b.init("g1_w", random_tensor({5, 6}, 50, -1.f, 1.f))
      .init("g1_c", random_tensor({5}, 51, -1.f, 1.f))
      .node("Gemm", {"f", "g1_w", "g1_c"}, {"g1"}, "gemm1")
      .attr("transB", int64_t{1})
      .attr("alpha", 0.5f)
      .attr("beta", 2.f);
  add_bn(b, "bn3", "g1", "g1b", 5, 60);
  b.init("g2_w", random_tensor({5, 4}, 70, -1.f, 1.f))
      .init("g2_c", random_tensor({1, 4}, 71, -1.f, 1.f))
      .node("Gemm", {"g1b", "g2_w", "g2_c"}, {"g2"}, "gemm2");
  add_bn(b, "bn4", "g2", "out", 4, 80);
  // Two Convs sharing one weight, each with its own BN.
  b.init("shared_w", random_tensor({2, 3, 1, 1}, 90, -1.f, 1.f))
      .node("Conv", {"x", "shared_w"}, {"sa"}, "conv_a")
      .node("Conv", {"x", "shared_w"}, {"sb"}, "conv_b");
  add_bn(b, "bn_a", "sa", "sab", 2, 100);
  add_bn(b, "bn_b", "sb", "sbb", 2, 110);
  b.node("Add", {"sab", "sbb"}, {"shared_sum"}, "add_shared");
  // The Conv output is also read by the Add: the BN cannot be folded.
  add_conv(b, "conv3", "x", "c3", 3, 2, 1, 1, 0, 120);
  add_bn(b, "bn5", "c3", "c3b", 2, 130);
  b.node("Add", {"c3", "c3b"}, {"side"}, "add_side");
  b.output("out").output("shared_sum").output("side");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

TEST(BnFold, FoldedModelComputesTheSameOutputs) {
  const OnnxGraph original = bn_model();
  OnnxGraph g = original.copy();
  const auto r = transform::fold_batchnorm(g);
  EXPECT_EQ(r.folded, (std::vector<std::string>{"bn1", "bn2", "bn3", "bn4", "bn_a", "bn_b"}));
  ASSERT_EQ(r.kept.size(), 1u);
  EXPECT_NE(r.kept[0].find("bn5"), std::string::npos) << r.kept[0];
  EXPECT_EQ(count_ops(g, "BatchNormalization"), 1);
  EXPECT_EQ(check_onnx(g, true), "");
  // The shared weight got one copy per Conv.
  EXPECT_NE(g.node(g.node_index("conv_a")).input(1), g.node(g.node_index("conv_b")).input(1));
  // The producers now write the BN outputs; BN parameters no longer referenced are gone.
  EXPECT_EQ(g.node(g.node_index("conv1")).output(0), "c1b");
  EXPECT_FALSE(g.is_initializer("bn1_m"));

  const auto samples = random_samples("x", {1, 3, 8, 8}, 3, 7, -2.f, 2.f);
  for (const char* out : {"out", "shared_sum", "side"}) {
    const auto want = run_all(original, samples, out);
    const auto got = run_all(g, samples, out);
    EXPECT_GE(cosine(got, want), 0.999999) << out;
    for (size_t i = 0; i < want.size(); ++i) expect_tensor_near(got[i], want[i], 1e-4, 1e-5);
  }
}

TEST(BnFold, TrainingModeBnIsKept) {
  ModelBuilder b(13);
  b.input("x", {1, 3, 4, 4});
  add_conv(b, "conv", "x", "c", 3, 2, 1, 1, 0, 1);
  add_bn(b, "bn", "c", "y", 2, 2);
  b.attr("training_mode", int64_t{1});
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  const auto r = transform::fold_batchnorm(g);
  EXPECT_TRUE(r.folded.empty());
  ASSERT_EQ(r.kept.size(), 1u);
  EXPECT_NE(r.kept[0].find("training mode"), std::string::npos) << r.kept[0];
  EXPECT_EQ(count_ops(g, "BatchNormalization"), 1);
}

}  // namespace
}  // namespace dpl::test
