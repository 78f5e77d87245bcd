// Element-wise islands (runtime/fusion.h kElementwiseIslandOp, ops/elementwise_island.cpp):
// the element-wise nodes after a node, reading its output, each other's and scalar
// constants, run as one plan node block by block. Checked against the unfused session bit
// for bit, on tensors of several blocks (the last one partial) at 1 and 2 threads, in the
// shapes PP-OCRv4 det exports (a scalar affine and a HardSwish spelled as Add, Clip, Mul,
// Div after every convolution), in FP32 and with TensorRT's fake quantizations between.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "graph/model_builder.h"
#include "runtime/fusion.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

void expect_same_bits(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(0, std::memcmp(a.raw(), b.raw(), a.bytes()));
}

// Conv -> Mul(s) -> Add(b) -> v; HardSwish(v) = v * Clip(v + 3, 0, 6) / 6 -> Mul(s2) -> Add(b2).
// quantized: TensorRT's pairs on v (the HardSwish's Mul reads the pair's output, its Add the
// float v), on the Mul's output and on the last Add's.
OnnxGraph ppocr_block(const Shape& x_shape, bool quantized, const std::string& fetch = "") {
  ModelBuilder b;
  b.input("x", x_shape).init("w", random_tensor({8, x_shape[1], 3, 3}, 2, -0.5f, 0.5f));
  const std::pair<const char*, float> scalars[] = {{"s", 0.9f},   {"bias", 0.1f}, {"three", 3.f}, {"zero", 0.f},
                                                   {"six", 6.f},  {"s2", 1.1f},   {"b2", -0.2f}};
  for (const auto& [name, v] : scalars) b.init(name, Tensor::scalar<float>(v));
  b.init("qs", Tensor::scalar<float>(0.05f)).init("qz", Tensor::scalar<int8_t>(0));
  b.node("Conv", {"x", "w"}, {"c"}, "conv").attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Mul", {"c", "s"}, {"m"}, "mul").node("Add", {"m", "bias"}, {"v"}, "add");
  std::string vq = "v";
  if (quantized) {
    b.node("QuantizeLinear", {"v", "qs", "qz"}, {"vq8"}, "q1").node("DequantizeLinear", {"vq8", "qs", "qz"}, {"vq"}, "d1");
    vq = "vq";
  }
  b.node("Add", {"v", "three"}, {"v3"}, "add3").node("Clip", {"v3", "zero", "six"}, {"r6"}, "clip");
  b.node("Mul", {vq, "r6"}, {"hs6"}, "mul_hs").node("Div", {"hs6", "six"}, {"hs"}, "div");
  b.node("Mul", {"hs", "s2"}, {"m2"}, "mul2");
  std::string m2 = "m2";
  if (quantized) {
    b.node("QuantizeLinear", {"m2", "qs", "qz"}, {"m2q8"}, "q2").node("DequantizeLinear", {"m2q8", "qs", "qz"}, {"m2q"}, "d2");
    m2 = "m2q";
  }
  b.node("Add", {m2, "b2"}, {"y"}, "add2").output("y");
  if (!fetch.empty()) b.output(fetch);
  return b.graph();
}

int island_nodes(const Session& s, size_t* members = nullptr) {
  int n = 0;
  for (int i = 0; i < s.node_count(); ++i)
    if (s.node(i).op_type == kElementwiseIslandOp) {
      ++n;
      if (members) *members = s.node(i).absorbed.size();
    }
  return n;
}

SessionOptions options(int threads, bool fuse) {
  SessionOptions o;
  o.threads = threads;
  o.fuse = fuse;
  return o;
}

// How the (single) island of `s` ran its last pass (ElementwiseIslandOp::kernel_info).
std::string island_impl(Session& s) {
  for (int i = 0; i < s.node_count(); ++i)
    if (s.node(i).op_type == kElementwiseIslandOp) return s.kernel_info(i).impl;
  return "no island";
}

}  // namespace

TEST(ElementwiseIsland, ScalarChainAfterAConvIsOneNodeWithTheSameBits) {
  const Shape x_shape = {2, 3, 50, 47};  // 8 x 50 x 47 x 2 = 37600 values: two full blocks and a partial one
  for (bool quantized : {false, true}) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::string(quantized ? "TensorRT QDQ" : "FP32") + ", " + std::to_string(threads) + " threads");
      const OnnxGraph g = ppocr_block(x_shape, quantized);
      Session a(g, options(threads, false)), f(g, options(threads, true));
      size_t members = 0;
      EXPECT_EQ(island_nodes(f, &members), 1);
      // FP32: the Conv, then the eight element-wise nodes as one. QDQ: nine, the second Mul
      // with its output's pair (Add/Mul absorb it) and the first pair as one QuantizeLinear.
      EXPECT_EQ(f.node_count(), 2);
      EXPECT_EQ(members, quantized ? 9u : 8u);
      Tensor x = random_tensor(x_shape, 7, -3.f, 3.f);
      x.data<float>()[123] = std::numeric_limits<float>::quiet_NaN();
      const TensorMap feeds{{"x", x}};
      expect_same_bits(a.run(feeds).at("y"), f.run(feeds).at("y"));
      EXPECT_EQ(island_impl(f), "spans of 1024 values");
    }
  }
}

// SNPE quantizes the Clip's output too: the Clip absorbs that pair (one pass) and, inside an
// island, keeps its span form (without it the whole island fell back to block views, a
// third slower on PP-OCRv4 det). The Clip with one bound checks that the pair's operands,
// appended after the Clip's own inputs, are not read as its missing max.
TEST(ElementwiseIsland, ClipWithItsFakeQuantizationKeepsTheSpans) {
  const Shape x_shape = {1, 8, 50, 47};
  for (bool both_bounds : {true, false}) {
    SCOPED_TRACE(both_bounds ? "Clip(0, 6)" : "Clip(0)");
    ModelBuilder b;
    b.input("x", x_shape).init("w", random_tensor({8, 8, 1, 1}, 11, -0.5f, 0.5f));
    b.init("three", Tensor::scalar<float>(3.f)).init("zero", Tensor::scalar<float>(0.f));
    b.init("six", Tensor::scalar<float>(6.f)).init("qs", Tensor::scalar<float>(0.03f));
    b.init("qz", Tensor::scalar<uint8_t>(7));
    b.node("Conv", {"x", "w"}, {"c"}, "conv").node("Add", {"c", "three"}, {"v3"}, "add3");
    if (both_bounds) b.node("Clip", {"v3", "zero", "six"}, {"r6"}, "clip");
    else b.node("Clip", {"v3", "zero"}, {"r6"}, "clip");
    b.node("QuantizeLinear", {"r6", "qs", "qz"}, {"r6q8"}, "q").node("DequantizeLinear", {"r6q8", "qs", "qz"}, {"r6q"}, "d");
    b.node("Mul", {"c", "r6q"}, {"hs6"}, "mul_hs").node("Div", {"hs6", "six"}, {"y"}, "div").output("y");
    for (int threads : {1, 2}) {
      Session a(b.graph(), options(threads, false)), f(b.graph(), options(threads, true));
      Tensor x = random_tensor(x_shape, 12, -4.f, 4.f);
      x.data<float>()[77] = std::numeric_limits<float>::quiet_NaN();
      const TensorMap feeds{{"x", x}};
      const Tensor ya = a.run(feeds).at("y"), yf = f.run(feeds).at("y");
      expect_same_bits(ya, yf);  // a pair operand read as the max (0.03) would differ
      EXPECT_EQ(island_impl(f), "spans of 1024 values");
    }
  }
}

// A value the graph returns stays a plan value: the island ends there or leaves it out, and
// a node with a non-scalar operand is not a member. Same bits either way.
TEST(ElementwiseIsland, VisibleValuesAndTensorOperandsBoundTheIsland) {
  const Shape x_shape = {1, 4, 40, 40};
  for (const char* fetch : {"v", "r6", "hs"}) {
    SCOPED_TRACE(std::string("fetching ") + fetch);
    const OnnxGraph g = ppocr_block(x_shape, false, fetch);
    SessionOptions fused;
    fused.fuse = true;
    Session a(g), f(g, fused);
    for (int i = 0; i < f.node_count(); ++i) {
      if (f.node(i).op_type != kElementwiseIslandOp) continue;
      for (size_t k = 0; k + 1 < f.node(i).absorbed.size(); ++k) {
        EXPECT_NE(f.node(i).absorbed[k].outputs[0], fetch) << "a returned value inside an island";
      }
    }
    const TensorMap feeds{{"x", random_tensor(x_shape, 9, -3.f, 3.f)}};
    const TensorMap ra = a.run(feeds), rf = f.run(feeds);
    expect_same_bits(ra.at("y"), rf.at("y"));
    expect_same_bits(ra.at(fetch), rf.at(fetch));
  }
  // A per-channel Mul between the scalar nodes: the island stops before it.
  ModelBuilder b;
  b.input("x", {1, 4, 30, 30}).init("s", Tensor::scalar<float>(2.f)).init("pc", random_tensor({1, 4, 1, 1}, 3));
  b.node("Relu", {"x"}, {"r"}).node("Mul", {"r", "s"}, {"m"}).node("Add", {"m", "s"}, {"a"});
  b.node("Mul", {"a", "pc"}, {"p"}).node("Sigmoid", {"p"}, {"y"}).output("y");
  SessionOptions fused;
  fused.fuse = true;
  Session a(b.graph()), f(b.graph(), fused);
  size_t members = 0;
  EXPECT_EQ(island_nodes(f, &members), 1);
  EXPECT_EQ(members, 2u);  // Relu's output: the Mul and the Add; the per-channel Mul and the Sigmoid stay
  const TensorMap feeds{{"x", random_tensor({1, 4, 30, 30}, 5)}};
  expect_same_bits(a.run(feeds).at("y"), f.run(feeds).at("y"));
}

// Members without a span form (Sum) run through their forward() on views of each block, and
// the island gives the same bits that way too.
TEST(ElementwiseIsland, MembersWithoutSpanFormRunOnBlockViews) {
  const Shape x_shape = {2, 8, 40, 41};  // 26240 values: a full block and a partial one
  ModelBuilder b;
  b.input("x", x_shape).init("w", random_tensor({8, 8, 1, 1}, 4)).init("s", Tensor::scalar<float>(0.25f));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.node("Mul", {"c", "s"}, {"m"}, "mul").node("Sum", {"m", "s"}, {"t"}, "sum").node("Sigmoid", {"t"}, {"y"}, "sig");
  b.output("y");
  for (int threads : {1, 2}) {
    Session a(b.graph(), options(threads, false)), f(b.graph(), options(threads, true));
    size_t members = 0;
    EXPECT_EQ(island_nodes(f, &members), 1);
    EXPECT_EQ(members, 3u);
    const TensorMap feeds{{"x", random_tensor(x_shape, 6, -2.f, 2.f)}};
    expect_same_bits(a.run(feeds).at("y"), f.run(feeds).at("y"));
    EXPECT_EQ(island_impl(f), "blocks of 16384 values (Sum 'sum' has no span form)");
  }
}

}  // namespace dpl::test
