// The one-pass fake quantization of fused sessions (src/runtime/ops/fake_quant.cpp):
// QuantizeLinear -> DequantizeLinear and Clip -> QuantizeLinear -> DequantizeLinear run as
// one node, bit for bit what the unfused session computes with the separate ops, on random
// data with exact ties at .5, NaN, infinities, -0 and values far outside the range, per
// tensor and per channel along several axes; constant weights' Q/DQ is computed once at
// session creation; pairs whose quantized values something else needs stay separate.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "graph/model_builder.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

// Values around the quantization grid of scale `s`: random, exact ties (k + 0.5) * s for
// power-of-two scales, NaN, +-Inf, -0, huge values, values just beyond the range.
Tensor tricky_input(const Shape& shape, float s, uint64_t seed) {
  Tensor t = random_tensor(shape, seed, -300.f * s, 300.f * s);
  float* d = t.data<float>();
  const float special[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(), -0.f, 0.f, 1e30f, -1e30f, 4194304.f * s,
                           -4194304.f * s, 127.5f * s, -128.5f * s, 255.5f * s, 0.5f * s, -0.5f * s, 2.5f * s,
                           -2.5f * s, 1.5f * s, -1.5f * s, 0.49999997f * s};
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % 3 == 0) d[i] = (std::floor(d[i] / s) + 0.5f) * s;  // a tie when s is a power of two
    if (i % 7 == 1) d[i] = special[(i / 7) % (sizeof(special) / sizeof(special[0]))];
  }
  return t;
}

// Bitwise equality (NaN equal to NaN of the same bits).
void expect_same_bits(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.dtype(), DType::F32);
  ASSERT_EQ(b.dtype(), DType::F32);
  int bad = 0;
  for (int64_t i = 0; i < a.numel() && bad < 5; ++i) {
    uint32_t x, y;
    std::memcpy(&x, a.data<float>() + i, 4);
    std::memcpy(&y, b.data<float>() + i, 4);
    if (x != y) {
      ADD_FAILURE() << "element " << i << ": unfused " << a.data<float>()[i] << " fused " << b.data<float>()[i];
      ++bad;
    }
  }
}

// Runs `g` unfused and fused on `x`; the fused plan must have `fused_nodes` nodes and give
// the same bits.
void check_fused(const OnnxGraph& g, const Tensor& x, int fused_nodes, int threads = 1) {
  SessionOptions plain;
  plain.threads = threads;
  SessionOptions fused = plain;
  fused.fuse = true;
  Session a(g, plain), b(g, fused);
  EXPECT_EQ(b.node_count(), fused_nodes);
  const TensorMap feeds{{"x", x}};
  expect_same_bits(a.run(feeds).at("y"), b.run(feeds).at("y"));
}

struct QdqCase {
  std::string name;
  Shape shape;
  int64_t axis;     // -100: per tensor
  DType zp_type;    // Undefined: no zero point (uint8 0)
  bool clip;        // a Clip before the QuantizeLinear
};

OnnxGraph qdq_graph(const QdqCase& c, float s) {
  ModelBuilder b;
  b.input("x", c.shape);
  const bool per_tensor = c.axis == -100;
  const int64_t ch = per_tensor ? 1 : c.shape[static_cast<size_t>(c.axis < 0 ? c.axis + c.shape.size() : c.axis)];
  std::vector<float> scales(static_cast<size_t>(ch));
  std::vector<int8_t> zi(scales.size());
  std::vector<uint8_t> zu(scales.size());
  for (int64_t k = 0; k < ch; ++k) {
    scales[k] = s * static_cast<float>(1 << (k % 3)) * (k % 4 == 3 ? 0.3f : 1.f);  // ties and non-ties
    zi[k] = static_cast<int8_t>(k * 37 % 21 - 10);
    zu[k] = static_cast<uint8_t>(k * 53 % 200 + 20);
  }
  const Shape sshape = per_tensor ? Shape{} : Shape{ch};
  b.init("s", Tensor::from_vector<float>(sshape, scales));
  std::vector<std::string> qin = {c.clip ? "xc" : "x", "s"};
  if (c.zp_type == DType::I8) b.init("z", Tensor::from_vector<int8_t>(sshape, zi)), qin.push_back("z");
  if (c.zp_type == DType::U8) b.init("z", Tensor::from_vector<uint8_t>(sshape, zu)), qin.push_back("z");
  if (c.clip) {
    b.init("lo", Tensor::scalar<float>(-40.f * s)).init("hi", Tensor::scalar<float>(90.f * s));
    b.node("Clip", {"x", "lo", "hi"}, {"xc"}, "clip");
  }
  b.node("QuantizeLinear", qin, {"q"}, "quant");
  if (!per_tensor) b.attr("axis", c.axis);
  b.node("DequantizeLinear", qin.size() > 2 ? std::vector<std::string>{"q", "s", "z"} : std::vector<std::string>{"q", "s"},
         {"y"}, "dequant");
  if (!per_tensor) b.attr("axis", c.axis);
  b.output("y");
  return b.graph();
}

TEST(FakeQuantFusion, QuantDequantIsOnePassAndBitExact) {
  const std::vector<QdqCase> cases = {
      {"per tensor int8", {2, 5, 7, 9}, -100, DType::I8, false},
      {"per tensor uint8", {3, 1000}, -100, DType::U8, false},
      {"per tensor, no zero point", {4, 33}, -100, DType::Undefined, false},
      {"per channel axis 1 int8", {2, 6, 5, 7}, 1, DType::I8, false},
      {"per channel axis 0 uint8", {6, 4, 9}, 0, DType::U8, false},
      {"per channel axis -1 int8", {3, 4, 8}, -1, DType::I8, false},
      {"clip, per tensor int8", {2, 4, 6, 6}, -100, DType::I8, true},
      {"clip, per channel axis 1 uint8", {2, 4, 6, 6}, 1, DType::U8, true},
  };
  for (const QdqCase& c : cases) {
    for (float s : {0.5f, 0.0625f, 0.1f, 3.f}) {
      SCOPED_TRACE(c.name + ", scale " + std::to_string(s));
      check_fused(qdq_graph(c, s), tricky_input(c.shape, s, 7), 1);
    }
  }
  // Large enough to split over threads.
  check_fused(qdq_graph({"big", {1, 64, 64, 64}, 1, DType::I8, false}, 0.25f), tricky_input({1, 64, 64, 64}, 0.25f, 8),
              1, 2);
  check_fused(qdq_graph({"big", {1, 64, 64, 64}, -100, DType::U8, true}, 0.25f),
              tricky_input({1, 64, 64, 64}, 0.25f, 9), 1, 2);
}

// The Q/DQ of a constant weight is computed once at creation: the fused plan is the Conv
// alone (reading the dequantized weights as a constant), and the output is what the unfused
// session gives. The activation's Q/DQ before it is one node.
TEST(FakeQuantFusion, WeightQuantDequantFoldedAtCreation) {
  ModelBuilder b;
  b.input("x", {1, 3, 8, 8})
      .init("w", random_tensor({4, 3, 3, 3}, 3, -1.f, 1.f))
      .init("ws", Tensor::from_vector<float>({4}, {0.01f, 0.02f, 0.005f, 0.008f}))
      .init("wz", Tensor::from_vector<int8_t>({4}, {0, 0, 0, 0}))
      .init("xs", Tensor::scalar<float>(0.01f))
      .init("xz", Tensor::scalar<uint8_t>(3))
      .node("QuantizeLinear", {"w", "ws", "wz"}, {"wq"}, "wq")
      .attr("axis", int64_t{0})
      .node("DequantizeLinear", {"wq", "ws", "wz"}, {"wd"}, "wd")
      .attr("axis", int64_t{0})
      .node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}, "xq")
      .node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"}, "xd")
      .node("Conv", {"xd", "wd"}, {"y"}, "conv")
      .output("y");
  SessionOptions fused;
  fused.fuse = true;
  Session a(b.graph()), s(b.graph(), fused);
  ASSERT_EQ(s.node_count(), 2);
  EXPECT_EQ(s.node(0).op_type, "QuantizeLinear");
  EXPECT_EQ(s.node(1).op_type, "Conv");
  const TensorMap feeds{{"x", random_tensor({1, 3, 8, 8}, 4)}};
  expect_same_bits(a.run(feeds).at("y"), s.run(feeds).at("y"));
}

// Quantized values that something else reads (or that the graph returns) must exist: such a
// pair stays two nodes, with the same results.
TEST(FakeQuantFusion, PairStaysSeparateWhenQuantizedValuesAreUsed) {
  ModelBuilder b;
  b.input("x", {2, 16})
      .init("s", Tensor::scalar<float>(0.125f))
      .init("z", Tensor::scalar<int8_t>(-3))
      .node("QuantizeLinear", {"x", "s", "z"}, {"q"}, "quant")
      .node("DequantizeLinear", {"q", "s", "z"}, {"y"}, "dequant")
      .output("y")
      .output("q", DType::I8);
  SessionOptions fused;
  fused.fuse = true;
  Session a(b.graph()), s(b.graph(), fused);
  EXPECT_EQ(s.node_count(), 2);
  const TensorMap feeds{{"x", tricky_input({2, 16}, 0.125f, 5)}};
  const TensorMap ra = a.run(feeds, {"y", "q"}), rb = s.run(feeds, {"y", "q"});
  expect_same_bits(ra.at("y"), rb.at("y"));
  EXPECT_EQ(std::memcmp(ra.at("q").raw(), rb.at("q").raw(), 32), 0);
}

}  // namespace
}  // namespace dpl::test
