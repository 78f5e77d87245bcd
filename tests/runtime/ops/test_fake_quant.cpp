// The one-pass fake quantization of fused sessions (src/runtime/ops/fake_quant.cpp):
// QuantizeLinear -> DequantizeLinear and Clip -> QuantizeLinear -> DequantizeLinear run as
// one node, bit for bit what the unfused session computes with the separate ops, on random
// data with exact ties at .5, NaN, infinities, -0 and values far outside the range, per
// tensor and per channel along several axes; constant weights' Q/DQ is computed once at
// session creation; pairs whose quantized values something else needs stay separate.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
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

// The other placement (SNPE and most platforms): v = Q -> DQ (x), Sigmoid(v) -> Q -> DQ,
// Mul(v, that) -> Q -> DQ. Fused, the first QuantizeLinear takes all eight nodes; without the
// last pair it stops after the Mul; a per-channel pair in the middle keeps it apart. Bit for
// bit the unfused result.
TEST(FakeQuantFusion, QuantizedSigmoidSiluIsOnePassAndBitExact) {
  for (int variant = 0; variant < 3; ++variant) {
    for (auto [s1, s2] : {std::pair{0.0625f, 0.00390625f}, std::pair{0.1f, 0.0041f}}) {
      SCOPED_TRACE("variant " + std::to_string(variant) + ", scales " + std::to_string(s1) + " " + std::to_string(s2));
      ModelBuilder b;
      const Shape shape = {2, 4, 13, 15};
      b.input("x", shape);
      b.init("s1", Tensor::scalar<float>(s1)).init("z1", Tensor::scalar<uint8_t>(128));
      b.init("s3", Tensor::scalar<float>(s1 * 0.7f)).init("z3", Tensor::scalar<uint8_t>(20));
      if (variant == 2) {
        b.init("s2", Tensor::from_vector<float>({4}, {s2, s2 * 2, s2, s2 * 3}));
        b.init("z2", Tensor::from_vector<uint8_t>({4}, {0, 1, 2, 0}));
      } else {
        b.init("s2", Tensor::scalar<float>(s2)).init("z2", Tensor::scalar<uint8_t>(0));
      }
      b.node("QuantizeLinear", {"x", "s1", "z1"}, {"q1"}, "q1").node("DequantizeLinear", {"q1", "s1", "z1"}, {"v"}, "d1");
      b.node("Sigmoid", {"v"}, {"sg"}, "sig");
      b.node("QuantizeLinear", {"sg", "s2", "z2"}, {"q2"}, "q2");
      if (variant == 2) b.attr("axis", int64_t{1});
      b.node("DequantizeLinear", {"q2", "s2", "z2"}, {"d2"}, "d2");
      if (variant == 2) b.attr("axis", int64_t{1});
      b.node("Mul", {"v", "d2"}, {"m"}, "mul");
      if (variant == 1) {
        b.node("Identity", {"m"}, {"y"}, "id");
      } else {
        b.node("QuantizeLinear", {"m", "s3", "z3"}, {"q3"}, "q3").node("DequantizeLinear", {"q3", "s3", "z3"}, {"y"}, "d3");
      }
      b.output("y");
      const OnnxGraph g = b.graph();
      SessionOptions fused;
      fused.fuse = true;
      Session a(g), f(g, fused);
      // 2: the first pair, Sigmoid, the per-channel pair (fused on its own), Mul with the last
      // pair (an element-wise node takes its output's per-tensor pair).
      const int want_nodes[] = {1, 2, 4};
      EXPECT_EQ(f.node_count(), want_nodes[variant]);
      const TensorMap feeds{{"x", tricky_input(shape, s1, 31 + variant)}};
      expect_same_bits(a.run(feeds).at("y"), f.run(feeds).at("y"));
    }
  }
}

// A pair whose DequantizeLinear has other parameters than its QuantizeLinear (the general
// formula; the usual pair takes a shorter one with the same bits): per tensor and per channel.
TEST(FakeQuantFusion, PairWithOtherDequantizeParametersIsBitExact) {
  for (bool per_channel : {false, true}) {
    SCOPED_TRACE(per_channel ? "per channel" : "per tensor");
    ModelBuilder b;
    const Shape shape = {2, 3, 9, 11};
    b.input("x", shape);
    const Shape ps = per_channel ? Shape{3} : Shape{};
    const int64_t n = per_channel ? 3 : 1;
    std::vector<float> qs(n), ds(n);
    std::vector<int8_t> qz(n), dz(n);
    for (int64_t k = 0; k < n; ++k) qs[k] = 0.0625f * float(k + 1), ds[k] = 0.1f + 0.05f * float(k), qz[k] = int8_t(3 - k), dz[k] = int8_t(-7 + k);
    b.init("qs", Tensor::from_vector<float>(ps, qs)).init("qz", Tensor::from_vector<int8_t>(ps, qz));
    b.init("ds", Tensor::from_vector<float>(ps, ds)).init("dz", Tensor::from_vector<int8_t>(ps, dz));
    b.node("QuantizeLinear", {"x", "qs", "qz"}, {"q"}, "quant");
    if (per_channel) b.attr("axis", int64_t{1});
    b.node("DequantizeLinear", {"q", "ds", "dz"}, {"y"}, "dequant");
    if (per_channel) b.attr("axis", int64_t{1});
    b.output("y");
    check_fused(b.graph(), tricky_input(shape, 0.0625f, 21), 1);
  }
}

// An Add or Mul (broadcasting a per-channel or a scalar operand, or two full tensors) takes
// the per-tensor pair on its output: one node, the same bits, for uint8 and int8 codes and
// a pair with other dequantize parameters; a per-channel pair, or a Sub of int32, stays apart.
TEST(FakeQuantFusion, AddAndMulTakeTheirOutputsPair) {
  struct Case {
    const char* op;
    Shape b_shape;
    DType zp;
    bool other_dq;
    bool per_channel;
  };
  const Shape shape = {2, 3, 70, 71};  // runs longer than the 4096-value blocks
  for (const Case& c : {Case{"Add", {1, 3, 1, 1}, DType::U8, false, false}, Case{"Mul", {}, DType::I8, false, false},
                        Case{"Add", {2, 3, 70, 71}, DType::I8, true, false},
                        Case{"Mul", {1, 3, 1, 1}, DType::U8, false, true}}) {
    SCOPED_TRACE(std::string(c.op) + (c.per_channel ? " per channel" : ""));
    ModelBuilder b;
    b.input("x", shape);
    b.init("b", random_tensor(c.b_shape, 4, -2.f, 2.f));
    const Shape ps = c.per_channel ? Shape{3} : Shape{};
    const int64_t n = c.per_channel ? 3 : 1;
    std::vector<float> qs(n, 0.0625f), ds(n, c.other_dq ? 0.07f : 0.0625f);
    b.init("qs", Tensor::from_vector<float>(ps, qs)).init("ds", Tensor::from_vector<float>(ps, ds));
    if (c.zp == DType::U8)
      b.init("qz", Tensor::from_vector<uint8_t>(ps, std::vector<uint8_t>(n, 120)))
          .init("dz", Tensor::from_vector<uint8_t>(ps, std::vector<uint8_t>(n, 120)));
    else
      b.init("qz", Tensor::from_vector<int8_t>(ps, std::vector<int8_t>(n, -3)))
          .init("dz", Tensor::from_vector<int8_t>(ps, std::vector<int8_t>(n, c.other_dq ? 5 : -3)));
    b.node(c.op, {"x", "b"}, {"v"});
    b.node("QuantizeLinear", {"v", "qs", "qz"}, {"q"}).node("DequantizeLinear", {"q", "ds", "dz"}, {"y"});
    b.output("y");
    check_fused(b.graph(), tricky_input(shape, 0.0625f, 31), c.per_channel ? 2 : 1, 2);
  }
}

// A Conv takes the per-tensor pair on its output (after its Relu, before a residual Add) as
// post-ops: one node, and the bits of the convolution's own output fake-quantized by the
// QuantizeLinear/DequantizeLinear kernels. The reference is the same graph with the value
// before the pair also a graph output (the Conv stops there), so both sides run the same
// convolution. Inputs on a grid of 1/4 and power-of-two scales give exact ties; a NaN in x
// reaches some outputs. Cases cover oneDNN's direct kernels (the post-ops inside the call),
// the GEMM-based plain 1x1 (after it) and the direct depthwise loop (ours).
TEST(FakeQuantFusion, ConvTakesItsOutputsPair) {
  struct Case {
    const char* name;
    int64_t c, m, k, h, w, group;
    const char* act;  // an activation between the Conv and the pair ("": none)
    bool add;
    DType zp;
    bool other_dq;
  };
  for (const Case& c : {Case{"3x3, uint8 zero point 7", 8, 16, 3, 20, 20, 1, "", false, DType::U8, false},
                        Case{"3x3 + Relu, int8 pair with other dequantize parameters", 8, 8, 3, 12, 12, 1, "Relu",
                             false, DType::I8, true},
                        // HardSigmoid is oneDNN's linear + clip: the pair's linear must not repeat it
                        Case{"3x3 + HardSigmoid, uint8", 8, 8, 3, 12, 12, 1, "HardSigmoid", false, DType::U8, false},
                        Case{"3x3, int8, residual Add", 8, 8, 3, 12, 12, 1, "", true, DType::I8, false},
                        Case{"plain 1x1 on 256 pixels, int8", 8, 16, 1, 16, 16, 1, "", false, DType::I8, false},
                        Case{"depthwise 3x3 on 40 columns + Relu, uint8 zero point 7", 16, 16, 3, 6, 40, 16, "Relu",
                             false, DType::U8, false}}) {
    SCOPED_TRACE(c.name);
    const Shape xs = {2, c.c, c.h, c.w};
    // Integers in [-4, 4] and weights in quarters: outputs are exact multiples of 1/4.
    Tensor x = random_tensor(xs, 5, -4.5f, 4.5f);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::round(x.data<float>()[i]);
    x.data<float>()[x.numel() / 3] = std::numeric_limits<float>::quiet_NaN();
    Tensor w = random_tensor({c.m, c.c / c.group, c.k, c.k}, 6, -1.f, 1.f);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = std::round(w.data<float>()[i] * 4.f) / 4.f;
    auto graph = [&](bool reference) {
      ModelBuilder b;
      b.input("x", xs).init("w", w).init("bias", random_tensor({c.m}, 7, -2.f, 2.f));
      const float s = c.zp == DType::U8 ? 0.0625f : 0.125f;
      b.init("qs", Tensor::scalar<float>(s)).init("ds", Tensor::scalar<float>(c.other_dq ? 0.1f : s));
      if (c.zp == DType::U8)
        b.init("qz", Tensor::scalar<uint8_t>(7)).init("dz", Tensor::scalar<uint8_t>(7));
      else
        b.init("qz", Tensor::scalar<int8_t>(-3)).init("dz", Tensor::scalar<int8_t>(c.other_dq ? 4 : -3));
      b.node("Conv", {"x", "w", "bias"}, {"c"}, "conv")
          .attr("pads", std::vector<int64_t>(4, c.k / 2))
          .attr("group", c.group);
      std::string v = "c";
      if (*c.act) b.node(c.act, {"c"}, {"r"}, "act"), v = "r";
      b.node("QuantizeLinear", {v, "qs", "qz"}, {"q"}, "q").node("DequantizeLinear", {"q", "ds", "dz"}, {"d"}, "dq");
      if (c.add) {
        b.input("res", {2, c.m, c.h, c.w}).node("Add", {"d", "res"}, {"y"}, "add");
      } else {
        b.node("Identity", {"d"}, {"y"}, "id");
      }
      b.output("y");
      if (reference) b.output(v);
      return b.graph();
    };
    SessionOptions fused;
    fused.fuse = true;
    fused.threads = 2;
    Session ref(graph(true), fused), s(graph(false), fused);
    EXPECT_EQ(s.node(0).op_type, "Conv");
    EXPECT_EQ(s.node(0).absorbed.size(), (*c.act ? 2u : 1u) + (c.add ? 1u : 0u));
    EXPECT_EQ(ref.node(0).absorbed.size(), *c.act ? 1u : 0u);
    TensorMap feeds{{"x", x}};
    if (c.add) feeds["res"] = random_tensor({2, c.m, c.h, c.w}, 8, -1.f, 1.f);
    expect_same_bits(ref.run(feeds).at("y"), s.run(feeds).at("y"));
    const KernelInfo k = s.kernel_info(0);
    std::cout << "[conv-fake-quant] " << c.name << ": " << k.impl << ", in the call:";
    for (const auto& p : k.library_post_ops) std::cout << " " << p;
    std::cout << "; after it:";
    for (const auto& p : k.separate_post_ops) std::cout << " " << p;
    std::cout << "\n";
    // On oneDNN's direct JIT kernels the pair is inside the call, unless an operation before
    // it shares an eltwise algorithm with it (the HardSigmoid's linear): then it runs after.
    const bool direct_jit = k.impl.find("brg") != std::string::npos || k.impl.find("jit:avx") != std::string::npos;
    auto has_pair = [](const std::vector<std::string>& ops) {
      for (const auto& p : ops)
        if (p.rfind("fake_quant", 0) == 0) return true;
      return false;
    };
    if (direct_jit) {
      const bool repeats = std::string(c.act) == "HardSigmoid";
      EXPECT_EQ(has_pair(k.library_post_ops), !repeats);
      EXPECT_EQ(has_pair(k.separate_post_ops), repeats);
    }
  }
}

// A quantized SiLU after a Conv's pair (every non-TensorRT placement of YOLOX) stays with its
// QuantizeLinear, which runs the pair and the chain as one lookup: the Conv does not take the
// pair and leave the Sigmoid and Mul as separate passes.
TEST(FakeQuantFusion, ConvLeavesAPairBeforeAQuantizedSiluToItsQuantizeLinear) {
  ModelBuilder b;
  b.input("x", {1, 4, 8, 8}).init("w", random_tensor({4, 4, 3, 3}, 2, -1.f, 1.f));
  b.init("s1", Tensor::scalar<float>(0.05f)).init("z1", Tensor::scalar<uint8_t>(128));
  b.init("s2", Tensor::scalar<float>(0.004f)).init("z2", Tensor::scalar<uint8_t>(0));
  b.node("Conv", {"x", "w"}, {"c"}, "conv").attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("QuantizeLinear", {"c", "s1", "z1"}, {"q1"}, "q1").node("DequantizeLinear", {"q1", "s1", "z1"}, {"v"}, "d1");
  b.node("Sigmoid", {"v"}, {"sg"}, "sig");
  b.node("QuantizeLinear", {"sg", "s2", "z2"}, {"q2"}, "q2").node("DequantizeLinear", {"q2", "s2", "z2"}, {"d2"}, "d2");
  b.node("Mul", {"v", "d2"}, {"y"}, "mul").output("y");
  SessionOptions fused;
  fused.fuse = true;
  Session s(b.graph(), fused);
  ASSERT_EQ(s.node_count(), 2);
  EXPECT_TRUE(s.node(0).absorbed.empty());
  EXPECT_EQ(s.node(1).op_type, "QuantizeLinear");
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
// Concat and nearest Resize only copy values, so they take the pair on their output and
// quantize as they copy (Resize: the smaller side). Bit for bit the separate pair, on tricky
// values; a 1x1 Conv before them makes its output channels-last where oneDNN picks NHWC.
// The Resize cases cover the scales and the sizes forms, upsampling (the input quantized
// first) and downsampling (the output quantized); linear Resize and tf_crop_and_resize (its
// extrapolated values are no copies) leave the pair separate.
TEST(FakeQuantFusion, CopyingOperatorsTakeTheirOutputsPair) {
  struct Case {
    std::string name;
    int fused_nodes;
    std::function<void(ModelBuilder&)> body;  // reads "c" (the Conv's output), writes "v"
  };
  auto resize = [](const std::vector<float>& scales, const char* mode, const char* coord) {
    return [=](ModelBuilder& b) {
      b.init("roi", Tensor::from_vector<float>({8}, {0, 0, 0, 0, 1, 1, 1, 1}));
      b.init("scales", Tensor::from_vector<float>({4}, scales));
      b.node("Resize", {"c", "roi", "scales"}, {"v"}, "resize").attr("mode", std::string(mode));
      b.attr("coordinate_transformation_mode", std::string(coord));
    };
  };
  const std::vector<Case> cases = {
      {"Concat on channels", 3,
       [](ModelBuilder& b) { b.node("Relu", {"x"}, {"r"}).node("Concat", {"c", "r", "c"}, {"v"}, "cat").attr("axis", int64_t{1}); }},
      {"Concat on rows", 3,
       [](ModelBuilder& b) { b.node("Relu", {"x"}, {"r"}).node("Concat", {"r", "c"}, {"v"}, "cat").attr("axis", int64_t{2}); }},
      {"Concat of one input", 2, [](ModelBuilder& b) { b.node("Concat", {"c"}, {"v"}, "cat").attr("axis", int64_t{1}); }},
      {"Resize x2", 2, resize({1, 1, 2, 2}, "nearest", "asymmetric")},
      {"Resize x0.5", 2, resize({1, 1, 0.5f, 0.5f}, "nearest", "half_pixel")},
      {"Resize by sizes", 2,
       [](ModelBuilder& b) {
         b.init("sizes", Tensor::from_vector<int64_t>({4}, {2, 8, 45, 31}));
         b.node("Resize", {"c", "", "", "sizes"}, {"v"}, "resize").attr("mode", std::string("nearest"));
       }},
      {"linear Resize", 3, resize({1, 1, 2, 2}, "linear", "half_pixel")},
      {"tf_crop_and_resize", 3, resize({1, 1, 2, 2}, "nearest", "tf_crop_and_resize")},
  };
  const float s = 0.0625f;
  for (const Case& c : cases) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE(c.name + ", " + std::to_string(threads) + " threads");
      ModelBuilder b;
      b.input("x", {2, 8, 30, 31}).init("w", random_tensor({8, 8, 1, 1}, 41, -0.5f, 0.5f));
      b.init("qs", Tensor::scalar<float>(s)).init("qz", Tensor::scalar<int8_t>(-3));
      b.node("Conv", {"x", "w"}, {"c"}, "conv");
      c.body(b);
      b.node("QuantizeLinear", {"v", "qs", "qz"}, {"q"}, "q").node("DequantizeLinear", {"q", "qs", "qz"}, {"y"}, "d");
      b.output("y");
      check_fused(b.graph(), tricky_input({2, 8, 30, 31}, s, 43), c.fused_nodes, threads);
    }
  }
}

// A Mul with its output's pair on a channels-last operand (a convolution's output) and a
// per-channel scale (a squeeze-excitation in a QDQ model): broadcast in memory order, the
// pair applied as before; bit for bit the unfused session, whose Mul and pair run apart.
TEST(FakeQuantFusion, MulOnChannelsLastValuesTakesItsPair) {
  ModelBuilder b;
  b.input("x", {2, 8, 20, 18}).input("scale", {2, 16, 1, 1});
  b.init("w", random_tensor({16, 8, 3, 3}, 51, -0.3f, 0.3f));
  b.init("qs", Tensor::scalar<float>(0.0625f)).init("qz", Tensor::scalar<uint8_t>(128));
  b.node("Conv", {"x", "w"}, {"c"}, "conv").attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Mul", {"c", "scale"}, {"v"}, "se");
  b.node("QuantizeLinear", {"v", "qs", "qz"}, {"q"}, "q").node("DequantizeLinear", {"q", "qs", "qz"}, {"y"}, "d");
  b.output("y");
  for (int threads : {1, 2}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    SessionOptions plain;
    plain.threads = threads;
    SessionOptions fused = plain;
    fused.fuse = true;
    Session a(b.graph(), plain), f(b.graph(), fused);
    EXPECT_EQ(f.node_count(), 2);
    const TensorMap feeds{{"x", tricky_input({2, 8, 20, 18}, 0.0625f, 53)},
                          {"scale", random_tensor({2, 16, 1, 1}, 54, -2.f, 2.f)}};
    expect_same_bits(a.run(feeds).at("y"), f.run(feeds).at("y"));
    EXPECT_EQ(f.channels_last_stats().produced, 2);  // the convolution's output and the Mul's
  }
}

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

// TensorRT's SiLU in a QDQ model: x -> Q -> DQ -> Sigmoid, Mul(x, Sigmoid), the Mul's Q -> DQ.
// Fused, the first QuantizeLinear takes all six nodes (one pass); with the second pair
// absent or the product read elsewhere it stops after the Mul or the Sigmoid. Bit for bit
// the unfused session's result on tricky values (NaN, infinities, ties), int8 and uint8
// codes, with and without zero points.
OnnxGraph silu_graph(int variant, float s1, float s2) {
  ModelBuilder b;
  b.input("x", {2, 3, 17, 19});
  b.init("s1", Tensor::scalar<float>(s1)).init("z1", Tensor::scalar<int8_t>(-5));
  b.init("s2", Tensor::scalar<float>(s2)).init("z2", Tensor::scalar<uint8_t>(12));
  b.node("QuantizeLinear", {"x", "s1", "z1"}, {"q1"}, "q1").node("DequantizeLinear", {"q1", "s1", "z1"}, {"d1"}, "d1");
  b.node("Sigmoid", {"d1"}, {"sg"}, "sig");
  if (variant == 3) {  // the Sigmoid's output is a graph output: the chain stops before the Mul
    b.node("Mul", {"sg", "x"}, {"y"}, "mul").output("y").output("sg");
    return b.graph();
  }
  b.node("Mul", {"x", "sg"}, {"m"}, "mul");
  if (variant == 2) {  // no second pair: the chain ends with the Mul
    b.node("Identity", {"m"}, {"y"}, "id").output("y");
    return b.graph();
  }
  const bool zero_point = variant == 0;
  b.node("QuantizeLinear", zero_point ? std::vector<std::string>{"m", "s2", "z2"} : std::vector<std::string>{"m", "s2"},
         {"q2"}, "q2");
  b.node("DequantizeLinear", zero_point ? std::vector<std::string>{"q2", "s2", "z2"} : std::vector<std::string>{"q2", "s2"},
         {"y"}, "d2");
  b.output("y");
  return b.graph();
}

TEST(FakeQuantFusion, TensorRtSiluAndTheNextPairAreOnePassAndBitExact) {
  // variant: 0 and 1 the whole chain (second pair with and without zero point: one node);
  // 2 without the second pair (QuantizeLinear + Sigmoid + Mul, then Identity); 3 with the
  // Sigmoid's output a graph output (QuantizeLinear + Sigmoid, then the Mul).
  const int nodes[] = {1, 1, 2, 2};
  for (int variant = 0; variant < 4; ++variant) {
    for (auto [s1, s2] : {std::pair{0.0625f, 0.03125f}, std::pair{0.1f, 0.037f}, std::pair{3.f, 0.5f}}) {
      SCOPED_TRACE("variant " + std::to_string(variant) + ", scales " + std::to_string(s1) + " " + std::to_string(s2));
      const OnnxGraph g = silu_graph(variant, s1, s2);
      SessionOptions fused;
      fused.fuse = true;
      Session a(g), b(g, fused);
      EXPECT_EQ(b.node_count(), nodes[variant]);
      const TensorMap feeds{{"x", tricky_input({2, 3, 17, 19}, s1, 11 + variant)}};
      expect_same_bits(a.run(feeds).at("y"), b.run(feeds).at("y"));
    }
  }
  // Per-channel parameters stay separate passes (the fused SiLU is per tensor).
  ModelBuilder b;
  b.input("x", {1, 4, 6, 6});
  b.init("s", Tensor::from_vector<float>({4}, {0.1f, 0.2f, 0.05f, 0.3f}))
      .init("z", Tensor::from_vector<int8_t>({4}, {0, 1, -1, 2}));
  b.node("QuantizeLinear", {"x", "s", "z"}, {"q"}, "q").attr("axis", int64_t{1});
  b.node("DequantizeLinear", {"q", "s", "z"}, {"d"}, "d").attr("axis", int64_t{1});
  b.node("Sigmoid", {"d"}, {"sg"}, "sig").node("Mul", {"x", "sg"}, {"y"}, "mul").output("y");
  SessionOptions fused;
  fused.fuse = true;
  Session pc(b.graph(), fused), plain(b.graph());
  EXPECT_EQ(pc.node_count(), 3);
  const TensorMap feeds{{"x", tricky_input({1, 4, 6, 6}, 0.1f, 3)}};
  expect_same_bits(plain.run(feeds).at("y"), pc.run(feeds).at("y"));
}

}  // namespace
}  // namespace dpl::test
