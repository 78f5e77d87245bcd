// The QOperator model builder (quant/qop_builder.h, docs/spec.md 11): structure of small hand-built
// graphs (Conv + Relu/Clip, Gemm with bias, MatMul, MaxPool, Concat with equal and unequal
// ranges, the per-channel and mixed-type cases), and the numbers: each QOP model is run by
// this project's runtime (QuantizeLinear, QLinearConv, QLinearMatMul, DequantizeLinear...)
// and compared with the integer arithmetic of the ONNX operator definitions written out
// here, with the quantization parameters computed by hand from docs/spec.md 6.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "graph/model_builder.h"
#include "quant/qop_builder.h"
#include "quant/qop_tensors.h"
#include "quant/qdq_test_util.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

using Names = std::vector<std::string>;

OnnxGraph shaped(const ModelBuilder& b) {
  OnnxGraph g = b.graph();
  g.infer_shapes();
  return g;
}

std::string dump(const OnnxGraph& g) {
  std::ostringstream s;
  for (const auto& n : g.graph().node()) {
    s << n.op_type() << " '" << n.name() << "' (";
    for (const auto& i : n.input()) s << i << " ";
    s << ") -> ";
    for (const auto& o : n.output()) s << o << " ";
    s << "\n";
  }
  return s.str();
}

Names op_types(const OnnxGraph& g) {
  Names r;
  for (const auto& n : g.graph().node()) r.push_back(n.op_type());
  return r;
}

void expect_valid(const QopModel& m) {
  std::string err = check_onnx(m.graph, true);
  EXPECT_TRUE(err.empty()) << err << "\n" << dump(m.graph);
  EXPECT_EQ(m.graph.opset(), 13);
  for (const auto& n : m.graph.graph().node()) EXPECT_TRUE(n.domain().empty()) << n.op_type() << " in " << n.domain();
}

// docs/spec.md 6 by hand: asymmetric uint8 and symmetric int8 parameters of [lo, hi].
struct Q {
  float s;
  int z;
  int lo, hi;  // saturation bounds of the type
};
Q asym(double lo, double hi) {
  lo = std::min(0.0, lo);
  hi = std::max(0.0, hi);
  const double s = (hi - lo) / 255;
  return {static_cast<float>(s), static_cast<int>(std::nearbyint(-lo / s)), 0, 255};
}
Q sym(double lo, double hi) { return {static_cast<float>(std::max(std::fabs(lo), std::fabs(hi)) / 127), 0, -128, 127}; }
// ONNX QuantizeLinear / DequantizeLinear.
int quant(float x, const Q& q) {
  float v = std::nearbyint(x / q.s) + static_cast<float>(q.z);
  return static_cast<int>(std::min<float>(std::max<float>(v, q.lo), q.hi));
}
float dequant(int v, const Q& q) { return static_cast<float>(v - q.z) * q.s; }
// The requantization of QLinearConv/QLinearMatMul: saturate(round((acc) * (sx * sw / sy)) + zy).
int requant(int32_t acc, float sx, float sw, const Q& y) {
  float v = std::nearbyint(static_cast<float>(acc) * (sx * sw / y.s)) + static_cast<float>(y.z);
  return static_cast<int>(std::min<float>(std::max<float>(v, y.lo), y.hi));
}

Tensor run_one(const OnnxGraph& g, const TensorMap& feeds, const std::string& out) {
  Session s(g);
  TensorMap r = s.run(feeds);
  EXPECT_TRUE(r.count(out)) << "no output " << out;
  return r.at(out);
}

Tensor init_of(const OnnxGraph& g, const std::string& name) {
  EXPECT_TRUE(g.is_initializer(name)) << name << " is not an initializer";
  return g.get_initializer(name);
}

const onnx::NodeProto& only_node(const OnnxGraph& g, const std::string& op) {
  const onnx::NodeProto* found = nullptr;
  for (const auto& n : g.graph().node())
    if (n.op_type() == op) {
      EXPECT_EQ(found, nullptr) << "more than one " << op;
      found = &n;
    }
  EXPECT_NE(found, nullptr) << "no " << op << " in\n" << dump(g);
  static onnx::NodeProto none;
  return found ? *found : none;
}

// x [1,1,2,2] -> Conv 1x1 (W [2,1,1,1], B [2]) -> c -> act -> y [-> MaxPool 1x1 -> p]
// (the 1x1 MaxPool, an identity, quantizes y on every platform here: with it the QDQ model
// uses the Conv's output only quantized, so the Conv can become a QLinearConv).
OnnxGraph conv_act(const std::string& act, float clip_hi = 6.f, bool pool = false) {
  ModelBuilder b;
  b.input("x", {1, 1, 2, 2})
      .init("W", Tensor::from_vector<float>({2, 1, 1, 1}, {0.8f, -0.6f}))
      .init("B", Tensor::from_vector<float>({2}, {0.1f, -0.2f}))
      .node("Conv", {"x", "W", "B"}, {"c"}, "conv");
  if (act == "Clip") {
    b.init("lo", Tensor::scalar<float>(0.f)).init("hi", Tensor::scalar<float>(clip_hi));
    b.node("Clip", {"c", "lo", "hi"}, {"y"}, "clip");
  } else {
    b.node(act, {"c"}, {"y"}, "act");
  }
  if (pool) {
    b.node("MaxPool", {"y"}, {"p"}, "pool").attr("kernel_shape", std::vector<int64_t>{1, 1});
    b.output("p", {1, 2, 2, 2});
  } else {
    b.output("y", {1, 2, 2, 2});
  }
  return shaped(b);
}

const std::vector<float> kX{-0.5f, 0.3f, 1.2f, 1.9f};
const std::vector<float> kW{0.8f, -0.6f}, kB{0.1f, -0.2f};

TEST(QopBuilder, ConvReluAsymmetricFoldsTheRelu) {
  OnnxGraph g = conv_act("Relu", 0, true);
  ActRanges act{{"x", {-1.f, 2.f}}, {"c", {-3.f, 4.f}}, {"y", {0.f, 4.f}}, {"p", {0.f, 4.f}}};
  QopModel m = build_qop(g, platform_by_name("snpe"), act, all_weight_ranges(g), {});
  expect_valid(m);
  // snpe quantizes the network output: p -> p_dq.
  EXPECT_EQ(op_types(m.graph), (Names{"QuantizeLinear", "QLinearConv", "MaxPool", "DequantizeLinear"}))
      << dump(m.graph);
  EXPECT_EQ(m.qlinear_nodes, (Names{"conv"}));
  EXPECT_EQ(m.folded_nodes, (Names{"act"}));
  EXPECT_EQ(m.integer_nodes, (Names{"pool"}));
  EXPECT_TRUE(m.float_nodes.empty());
  EXPECT_EQ(m.graph.network_outputs(), (Names{"p_dq"}));
  EXPECT_FALSE(m.graph.is_initializer("W")) << "the float weight is left in the model";

  const Q qx = asym(-1, 2), qw = asym(-0.6, 0.8), qy = asym(0, 4);  // the Relu's output range
  const auto& conv = only_node(m.graph, "QLinearConv");
  ASSERT_EQ(conv.input_size(), 9);
  EXPECT_EQ(conv.name(), "conv");
  EXPECT_FLOAT_EQ(init_of(m.graph, conv.input(1)).data<float>()[0], qx.s);
  EXPECT_EQ(init_of(m.graph, conv.input(2)).data<uint8_t>()[0], qx.z);
  Tensor wq = init_of(m.graph, conv.input(3));
  ASSERT_EQ(wq.dtype(), DType::U8);
  EXPECT_EQ(wq.shape(), (Shape{2, 1, 1, 1}));
  for (int c = 0; c < 2; ++c) EXPECT_EQ(wq.data<uint8_t>()[c], quant(kW[c], qw)) << "channel " << c;
  EXPECT_FLOAT_EQ(init_of(m.graph, conv.input(6)).data<float>()[0], qy.s);
  EXPECT_EQ(init_of(m.graph, conv.input(7)).data<uint8_t>()[0], 0);
  // Bias: int32, scale x_scale * w_scale, zero point 0.
  Tensor bq = init_of(m.graph, conv.input(8));
  ASSERT_EQ(bq.dtype(), DType::I32);
  for (int c = 0; c < 2; ++c)
    EXPECT_EQ(bq.data<int32_t>()[c], static_cast<int32_t>(std::nearbyint(double(kB[c]) / double(qx.s * qw.s))));
  // Hand-written values for this model: 0.1 / (3/255 * 1.4/255) = 1548.0...
  EXPECT_EQ(bq.data<int32_t>()[0], 1548);
  EXPECT_EQ(bq.data<int32_t>()[1], -3096);

  Tensor y = run_one(m.graph, {{"x", Tensor::from_vector<float>({1, 1, 2, 2}, kX)}}, "p_dq");
  ASSERT_EQ(y.numel(), 8);
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 4; ++i) {
      const int32_t acc = (quant(kX[i], qx) - qx.z) * (quant(kW[c], qw) - qw.z) + bq.data<int32_t>()[c];
      const float want = dequant(requant(acc, qx.s, qw.s, qy), qy);
      EXPECT_FLOAT_EQ(y.data<float>()[c * 4 + i], want) << "channel " << c << " pixel " << i;
      if (c == 1 && i == 3) {
        EXPECT_EQ(want, 0.f) << "the folded Relu should clamp this negative value";
      }
    }
}

TEST(QopBuilder, ConvReluSymmetricKeepsTheReluInFloat) {
  OnnxGraph g = conv_act("Relu", 0, true);
  ActRanges act{{"x", {-1.f, 2.f}}, {"c", {-3.f, 4.f}}, {"y", {0.f, 4.f}}, {"p", {0.f, 4.f}}};
  QopModel m = build_qop(g, platform_by_name("trt"), act, all_weight_ranges(g), {});
  expect_valid(m);
  // int8 symmetric: zero point 0 keeps negative codes, so saturation cannot do the Relu; it
  // runs in float between DequantizeLinear and QuantizeLinear with the same parameters (a
  // clamp commutes with the rounding: nothing is rounded twice).
  EXPECT_EQ(op_types(m.graph), (Names{"QuantizeLinear", "QLinearConv", "DequantizeLinear", "Relu", "QuantizeLinear",
                                      "MaxPool", "DequantizeLinear"}))
      << dump(m.graph);
  EXPECT_TRUE(m.folded_nodes.empty());
  EXPECT_EQ(m.graph.network_outputs(), (Names{"p"}));
  // The Conv's output takes the Relu output's parameters (sym [0, 4]), per-channel weights.
  const Q qx = sym(-1, 2), qy = sym(0, 4);
  const Q qw0 = sym(0.8, 0.8), qw1 = sym(-0.6, -0.6);
  const auto& conv = only_node(m.graph, "QLinearConv");
  EXPECT_FLOAT_EQ(init_of(m.graph, conv.input(6)).data<float>()[0], qy.s);
  Tensor ws = init_of(m.graph, conv.input(4));
  ASSERT_EQ(ws.shape(), (Shape{2}));
  EXPECT_FLOAT_EQ(ws.data<float>()[0], qw0.s);
  EXPECT_FLOAT_EQ(ws.data<float>()[1], qw1.s);
  Tensor wq = init_of(m.graph, conv.input(3));
  ASSERT_EQ(wq.dtype(), DType::I8);
  EXPECT_EQ(wq.data<int8_t>()[0], 127);
  EXPECT_EQ(wq.data<int8_t>()[1], -127);
  Tensor bq = init_of(m.graph, conv.input(8));
  EXPECT_EQ(bq.data<int32_t>()[0], static_cast<int32_t>(std::nearbyint(0.1 / double(qx.s * qw0.s))));
  EXPECT_EQ(bq.data<int32_t>()[1], static_cast<int32_t>(std::nearbyint(-0.2 / double(qx.s * qw1.s))));

  Tensor y = run_one(m.graph, {{"x", Tensor::from_vector<float>({1, 1, 2, 2}, kX)}}, "p");
  for (int c = 0; c < 2; ++c) {
    const Q& qw = c == 0 ? qw0 : qw1;
    for (int i = 0; i < 4; ++i) {
      const int32_t acc = quant(kX[i], qx) * quant(kW[c], qw) + bq.data<int32_t>()[c];
      const float want = std::max(0.f, dequant(requant(acc, qx.s, qw.s, qy), qy));
      EXPECT_FLOAT_EQ(y.data<float>()[c * 4 + i], want) << "channel " << c << " pixel " << i;
    }
  }
}

// Where the QDQ model uses a Conv's output in float, a QLinearConv would round it there: the
// Conv stays float on dequantized input and weight, as in the QDQ model.
TEST(QopBuilder, ConvWhoseOutputIsUsedInFloatStaysFloat) {
  // trt: the Relu's output is a float graph output.
  OnnxGraph g = conv_act("Relu");
  ActRanges act{{"x", {-1.f, 2.f}}, {"c", {-3.f, 4.f}}, {"y", {0.f, 4.f}}};
  QopModel m = build_qop(g, platform_by_name("trt"), act, all_weight_ranges(g), {});
  expect_valid(m);
  EXPECT_EQ(count_op(m.graph, "QLinearConv"), 0);
  ASSERT_EQ(m.float_nodes.size(), 1u);
  EXPECT_NE(m.float_nodes[0].second.find("graph output"), std::string::npos) << m.float_nodes[0].second;
  EXPECT_EQ(inputs_of(m.graph, "conv"), (Names{"x_dequantized", "W_dequantized", "B"})) << dump(m.graph);

  // SiLU on trt: the Sigmoid quantizes c, the Mul takes it as it is.
  ModelBuilder mb;
  mb.input("x", {1, 1, 2, 2})
      .init("W", Tensor::from_vector<float>({2, 1, 1, 1}, kW))
      .node("Conv", {"x", "W"}, {"c"}, "conv")
      .node("Sigmoid", {"c"}, {"s"}, "sig")
      .node("Mul", {"c", "s"}, {"y"}, "mul")
      .output("y", {1, 2, 2, 2});
  OnnxGraph silu = shaped(mb);
  QopModel ms = build_qop(silu, platform_by_name("trt"), uniform_act_ranges(silu, -1.f, 2.f), all_weight_ranges(silu), {});
  expect_valid(ms);
  EXPECT_EQ(count_op(ms.graph, "QLinearConv"), 0);
  ASSERT_EQ(ms.float_nodes.size(), 1u);
  EXPECT_NE(ms.float_nodes[0].second.find("Mul 'mul' takes it unquantized"), std::string::npos)
      << ms.float_nodes[0].second;
  EXPECT_EQ(inputs_of(ms.graph, "mul"), (Names{"c", "s"}));
  EXPECT_EQ(inputs_of(ms.graph, "sig"), (Names{"c_dequantized"}));

  // A Gemm with bias whose output is a float graph output (trt's logits).
  ModelBuilder gb;
  gb.input("a", {1, 2})
      .init("B", Tensor::from_vector<float>({2, 2}, {1.f, 2.f, 3.f, 4.f}))
      .init("C", Tensor::from_vector<float>({2}, {0.5f, -0.5f}))
      .node("Gemm", {"a", "B", "C"}, {"y"}, "fc")
      .output("y", {1, 2});
  OnnxGraph gemm = shaped(gb);
  QopModel mg = build_qop(gemm, platform_by_name("trt"), uniform_act_ranges(gemm, -1.f, 2.f), all_weight_ranges(gemm), {});
  expect_valid(mg);
  EXPECT_EQ(count_op(mg.graph, "QLinearMatMul"), 0);
  EXPECT_EQ(inputs_of(mg.graph, "fc"), (Names{"a_dequantized", "B_dequantized", "C"}));
}

TEST(QopBuilder, ClipFoldsOnlyWhenSaturationClampsTheSame) {
  OnnxGraph g = conv_act("Clip", 6.f);
  ActRanges act{{"x", {-1.f, 2.f}}, {"c", {-3.f, 7.f}}, {"y", {0.f, 5.f}}};
  // Asymmetric [0, 5] saturates at 0 and 5, inside Clip(0, 6): folded.
  QopModel a = build_qop(g, platform_by_name("snpe"), act, all_weight_ranges(g), {});
  expect_valid(a);
  EXPECT_EQ(a.folded_nodes, (Names{"clip"}));
  EXPECT_EQ(count_op(a.graph, "Clip"), 0);
  // Clip(0, 4) cuts inside the range: it stays (in float).
  OnnxGraph g4 = conv_act("Clip", 4.f);
  QopModel b = build_qop(g4, platform_by_name("snpe"), act, all_weight_ranges(g4), {});
  expect_valid(b);
  EXPECT_TRUE(b.folded_nodes.empty());
  EXPECT_EQ(count_op(b.graph, "Clip"), 1);
  // A skipped Clip is never folded.
  QdqOptions skip;
  skip.skip_layers = {"clip"};
  QopModel c = build_qop(g, platform_by_name("snpe"), act, all_weight_ranges(g), skip);
  EXPECT_TRUE(c.folded_nodes.empty());
}

// a [2,3] -> Gemm(B [4,3], transB = 1, C [4]) -> y [2,4] -> Sigmoid -> s (trt quantizes the
// Sigmoid's input, so the QDQ model rounds y: the Gemm can be an integer op).
TEST(QopBuilder, GemmWithBiasIsQLinearMatMulThenFloatAdd) {
  const std::vector<float> A{0.5f, -0.25f, 1.f, -1.f, 0.75f, 0.1f};
  const std::vector<float> Bw{0.2f, -0.4f, 0.6f, 1.f, 0.5f, -0.25f, -0.3f, 0.3f, 0.9f, 0.05f, -0.1f, 0.15f};
  const std::vector<float> C{0.5f, -1.f, 0.25f, 0.f};
  ModelBuilder mb;
  mb.input("a", {2, 3})
      .init("B", Tensor::from_vector<float>({4, 3}, Bw))
      .init("C", Tensor::from_vector<float>({4}, C))
      .node("Gemm", {"a", "B", "C"}, {"y"}, "fc")
      .attr("transB", int64_t{1})
      .node("Sigmoid", {"y"}, {"s"}, "sig")
      .output("s", {2, 4});
  OnnxGraph g = shaped(mb);
  ActRanges act{{"a", {-1.f, 1.f}}, {"y", {-2.f, 3.f}}, {"s", {0.f, 1.f}}};
  QopModel m = build_qop(g, platform_by_name("trt"), act, all_weight_ranges(g), {});
  expect_valid(m);
  EXPECT_EQ(op_types(m.graph), (Names{"QuantizeLinear", "QLinearMatMul", "DequantizeLinear", "Add", "QuantizeLinear",
                                      "DequantizeLinear", "Sigmoid"}))
      << dump(m.graph);
  EXPECT_EQ(m.qlinear_nodes, (Names{"fc"}));
  const auto& mm = only_node(m.graph, "QLinearMatMul");
  EXPECT_EQ(mm.attribute_size(), 0);
  // B transposed to [3, 4], int8, one scale per column (output channel).
  Tensor wq = init_of(m.graph, mm.input(3));
  ASSERT_EQ(wq.dtype(), DType::I8);
  ASSERT_EQ(wq.shape(), (Shape{3, 4}));
  Tensor ws = init_of(m.graph, mm.input(4));
  ASSERT_EQ(ws.shape(), (Shape{4}));
  std::vector<Q> qw;
  for (int n = 0; n < 4; ++n) {
    double mx = 0;
    for (int k = 0; k < 3; ++k) mx = std::max(mx, std::fabs(double(Bw[n * 3 + k])));
    qw.push_back(sym(-mx, mx));
    EXPECT_FLOAT_EQ(ws.data<float>()[n], qw[n].s);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(wq.data<int8_t>()[k * 4 + n], quant(Bw[n * 3 + k], qw[n])) << n << "," << k;
  }
  // The product A * B lies in [-2 - max C, 3 - min C] = [-2.5, 4].
  const Q qa = sym(-1, 1), qp = sym(-2.5, 4);
  EXPECT_FLOAT_EQ(init_of(m.graph, mm.input(6)).data<float>()[0], qp.s);
  EXPECT_EQ(inputs_of(m.graph, "fc_bias")[1], "C");

  Session sess(m.graph);
  TensorMap res = sess.run({{"a", Tensor::from_vector<float>({2, 3}, A)}}, {"y"});
  ASSERT_TRUE(res.count("y"));
  const Tensor y = res.at("y");
  for (int r = 0; r < 2; ++r)
    for (int n = 0; n < 4; ++n) {
      int32_t acc = 0;
      for (int k = 0; k < 3; ++k) acc += quant(A[r * 3 + k], qa) * quant(Bw[n * 3 + k], qw[n]);
      const float want = dequant(requant(acc, qa.s, qw[n].s, qp), qp) + C[n];
      EXPECT_FLOAT_EQ(y.data<float>()[r * 4 + n], want) << r << "," << n;
    }
}

// MatMul of two activations on magicmind (asymmetric uint8, quantizes MatMul):
// a [2,3] x b [3,2] -> y -> MatMul(y, e [2,2]) -> z. The second MatMul quantizes y; its own
// output is a float graph output, so it stays float.
TEST(QopBuilder, MatMulOfTwoActivations) {
  const std::vector<float> A{0.5f, -0.25f, 1.f, -1.f, 1.75f, 0.1f}, Bv{0.2f, 0.9f, 0.f, 0.4f, 1.f, 0.6f};
  ModelBuilder mb;
  mb.input("a", {2, 3})
      .input("b", {3, 2})
      .input("e", {2, 2})
      .node("MatMul", {"a", "b"}, {"y"}, "mm")
      .node("MatMul", {"y", "e"}, {"z"}, "mm2")
      .output("z", {2, 2});
  OnnxGraph g = shaped(mb);
  ActRanges act{{"a", {-1.f, 2.f}}, {"b", {0.f, 1.f}}, {"y", {-1.f, 3.f}}, {"e", {-1.f, 1.f}}, {"z", {-5.f, 5.f}}};
  QopModel m = build_qop(g, platform_by_name("magicmind"), act, all_weight_ranges(g), {});
  expect_valid(m);
  EXPECT_EQ(m.qlinear_nodes, (Names{"mm"}));
  ASSERT_EQ(m.float_nodes.size(), 1u);
  EXPECT_EQ(m.float_nodes[0].first, "mm2");
  EXPECT_EQ(op_types(m.graph), (Names{"QuantizeLinear", "QuantizeLinear", "QLinearMatMul", "DequantizeLinear",
                                      "QuantizeLinear", "DequantizeLinear", "MatMul"}))
      << dump(m.graph);
  EXPECT_EQ(inputs_of(m.graph, "mm2"), (Names{"y", "e_dequantized"}));
  const Q qa = asym(-1, 2), qb = asym(0, 1), qy = asym(-1, 3);
  Session s(m.graph);
  TensorMap r = s.run({{"a", Tensor::from_vector<float>({2, 3}, A)},
                       {"b", Tensor::from_vector<float>({3, 2}, Bv)},
                       {"e", Tensor::from_vector<float>({2, 2}, {1.f, 0.f, 0.f, 1.f})}},
                      {"y"});
  ASSERT_TRUE(r.count("y"));
  Tensor y = r.at("y");
  for (int r = 0; r < 2; ++r)
    for (int n = 0; n < 2; ++n) {
      int32_t acc = 0;
      for (int k = 0; k < 3; ++k) acc += (quant(A[r * 3 + k], qa) - qa.z) * (quant(Bv[k * 2 + n], qb) - qb.z);
      EXPECT_FLOAT_EQ(y.data<float>()[r * 2 + n], dequant(requant(acc, qa.s, qb.s, qy), qy)) << r << "," << n;
    }
}

// x -> Conv -> c -> MaxPool 2x2 -> p (trt: MaxPool quantizes its input)
TEST(QopBuilder, MaxPoolRunsOnIntegers) {
  ModelBuilder mb;
  mb.input("x", {1, 1, 2, 2})
      .init("W", Tensor::from_vector<float>({2, 1, 1, 1}, kW))
      .init("B", Tensor::from_vector<float>({2}, kB))
      .node("Conv", {"x", "W", "B"}, {"c"}, "conv")
      .node("MaxPool", {"c"}, {"p"}, "pool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .output("p", {1, 2, 1, 1});
  OnnxGraph g = shaped(mb);
  ActRanges act{{"x", {-1.f, 2.f}}, {"c", {-1.5f, 1.6f}}, {"p", {-0.2f, 1.6f}}};
  QopModel m = build_qop(g, platform_by_name("trt"), act, all_weight_ranges(g), {});
  expect_valid(m);
  EXPECT_EQ(op_types(m.graph), (Names{"QuantizeLinear", "QLinearConv", "MaxPool", "DequantizeLinear"}))
      << dump(m.graph);
  EXPECT_EQ(m.integer_nodes, (Names{"pool"}));
  // The pool's output keeps the Conv output's grid (its scale and zero point initializers).
  const auto& conv = only_node(m.graph, "QLinearConv");
  const auto& pool = only_node(m.graph, "MaxPool");
  const auto& dq = only_node(m.graph, "DequantizeLinear");
  EXPECT_EQ(pool.input(0), conv.output(0));
  EXPECT_EQ(dq.input(0), pool.output(0));
  EXPECT_EQ(dq.input(1), conv.input(6));
  EXPECT_EQ(m.graph.value_type(pool.output(0)), DType::I8);

  const Q qx = sym(-1, 2), qc = sym(-1.5, 1.6);
  const Tensor bq = init_of(m.graph, conv.input(8));
  Tensor p = run_one(m.graph, {{"x", Tensor::from_vector<float>({1, 1, 2, 2}, kX)}}, "p");
  for (int c = 0; c < 2; ++c) {
    const Q qw = sym(kW[c], kW[c]);
    int best = -1000;
    for (int i = 0; i < 4; ++i)
      best = std::max(best, requant(quant(kX[i], qx) * quant(kW[c], qw) + bq.data<int32_t>()[c], qx.s, qw.s, qc));
    EXPECT_FLOAT_EQ(p.data<float>()[c], dequant(best, qc)) << "channel " << c;
  }
}

// x -> Conv1 -> c1, x -> Conv2 -> c2, Concat(c1, c2) -> y (snpe quantizes Concat inputs)
OnnxGraph two_convs_concat() {
  ModelBuilder mb;
  mb.input("x", {1, 1, 2, 2})
      .init("W1", Tensor::from_vector<float>({1, 1, 1, 1}, {0.7f}))
      .init("W2", Tensor::from_vector<float>({1, 1, 1, 1}, {-0.9f}))
      .node("Conv", {"x", "W1"}, {"c1"}, "conv1")
      .node("Conv", {"x", "W2"}, {"c2"}, "conv2")
      .node("Concat", {"c1", "c2"}, {"y"}, "cat")
      .attr("axis", int64_t{1})
      .output("y", {1, 2, 2, 2});
  return shaped(mb);
}

TEST(QopBuilder, ConcatWithEqualRangesRunsOnIntegers) {
  OnnxGraph g = two_convs_concat();
  ActRanges act{{"x", {-1.f, 2.f}}, {"c1", {-2.f, 2.f}}, {"c2", {-2.f, 2.f}}, {"y", {-2.f, 2.f}}};
  QopModel m = build_qop(g, platform_by_name("snpe"), act, all_weight_ranges(g), {});
  expect_valid(m);
  EXPECT_EQ(m.integer_nodes, (Names{"cat"}));
  const auto& cat = only_node(m.graph, "Concat");
  EXPECT_EQ(m.graph.value_type(cat.output(0)), DType::U8);
  EXPECT_EQ(count_op(m.graph, "QLinearConv"), 2);
  // Only x is quantized from float; only the output is dequantized.
  EXPECT_EQ(count_op(m.graph, "QuantizeLinear"), 1) << dump(m.graph);
  EXPECT_EQ(count_op(m.graph, "DequantizeLinear"), 1) << dump(m.graph);

  const Q qx = asym(-1, 2), qc = asym(-2, 2);
  Tensor y = run_one(m.graph, {{"x", Tensor::from_vector<float>({1, 1, 2, 2}, kX)}}, "y_dq");
  const float w[2] = {0.7f, -0.9f};
  for (int c = 0; c < 2; ++c) {
    const Q qw = asym(w[c], w[c]);
    for (int i = 0; i < 4; ++i) {
      const int32_t acc = (quant(kX[i], qx) - qx.z) * (quant(w[c], qw) - qw.z);
      EXPECT_FLOAT_EQ(y.data<float>()[c * 4 + i], dequant(requant(acc, qx.s, qw.s, qc), qc)) << c << "," << i;
    }
  }
}

TEST(QopBuilder, ConcatWithUnequalRangesRunsInFloat) {
  OnnxGraph g = two_convs_concat();
  ActRanges act{{"x", {-1.f, 2.f}}, {"c1", {-2.f, 2.f}}, {"c2", {-1.f, 3.f}}, {"y", {-2.f, 3.f}}};
  QopModel m = build_qop(g, platform_by_name("snpe"), act, all_weight_ranges(g), {});
  expect_valid(m);
  EXPECT_TRUE(m.integer_nodes.empty());
  const auto& cat = only_node(m.graph, "Concat");
  EXPECT_EQ(m.graph.value_type(cat.output(0)), DType::F32);
  // Both inputs dequantized from their own grids: c1 and c2 keep their names as floats.
  EXPECT_EQ(inputs_of(m.graph, "cat"), (Names{"c1", "c2"}));
  EXPECT_EQ(count_op(m.graph, "DequantizeLinear"), 3) << dump(m.graph);  // c1, c2, output
}

// asymmetric per-channel uint8 weights (magicmind): ONNX Runtime's QLinearConv takes one
// weight zero point, so the Conv stays float on dequantized weights.
TEST(QopBuilder, PerChannelUint8WeightsWithDifferentZeroPointsStayFloat) {
  OnnxGraph g = conv_act("Relu");
  ActRanges act{{"x", {-1.f, 2.f}}, {"c", {-3.f, 4.f}}, {"y", {0.f, 4.f}}};
  QopModel m = build_qop(g, platform_by_name("magicmind"), act, all_weight_ranges(g), {});
  expect_valid(m);
  EXPECT_EQ(count_op(m.graph, "QLinearConv"), 0);
  ASSERT_EQ(m.float_nodes.size(), 1u);
  EXPECT_EQ(m.float_nodes[0].first, "conv");
  EXPECT_NE(m.float_nodes[0].second.find("zero point"), std::string::npos) << m.float_nodes[0].second;
  EXPECT_EQ(inputs_of(m.graph, "conv"), (Names{"x_dequantized", "W_dequantized", "B"})) << dump(m.graph);
  const auto* wdq = find_node(m.graph, "W_DequantizeLinear");
  ASSERT_NE(wdq, nullptr);
  EXPECT_EQ(axis_attr(*wdq), 0);
}

// ti: activations symmetric unless the range starts at 0 (then uint8), power-of-two scales. A
// uint8 input and an int8 output range: ONNX Runtime's QLinearConv needs one type for both,
// so the output takes the uint8 equivalent of int8 (s, 0): (s, 128).
TEST(QopBuilder, MixedActivationTypesUseTheEquivalentGrid) {
  OnnxGraph g = conv_act("Sigmoid");
  ActRanges act{{"x", {0.f, 2.f}}, {"c", {-1.f, 1.f}}, {"y", {0.f, 1.f}}};
  QopModel m = build_qop(g, platform_by_name("ti"), act, all_weight_ranges(g), {});
  expect_valid(m);
  const auto& conv = only_node(m.graph, "QLinearConv");
  Tensor yzp = init_of(m.graph, conv.input(7));
  ASSERT_EQ(yzp.dtype(), DType::U8);
  EXPECT_EQ(yzp.data<uint8_t>()[0], 128);
  // ti's scales are powers of two: 1/127 -> 2^-7.
  EXPECT_FLOAT_EQ(init_of(m.graph, conv.input(6)).data<float>()[0], 0.0078125f);
  EXPECT_EQ(init_of(m.graph, conv.input(2)).dtype(), DType::U8);
}

// A weight that is also listed as a graph input (IR < 4 models) leaves the inputs with its
// float initializer.
TEST(QopBuilder, ReplacedWeightLeavesTheGraphInputs) {
  ModelBuilder b;
  b.input("x", {1, 1, 2, 2})
      .input("W", {2, 1, 1, 1})
      .init("W", Tensor::from_vector<float>({2, 1, 1, 1}, kW))
      .node("Conv", {"x", "W"}, {"c"}, "conv")
      .node("MaxPool", {"c"}, {"p"}, "pool")
      .attr("kernel_shape", std::vector<int64_t>{1, 1})
      .output("p", {1, 2, 2, 2});
  OnnxGraph g = shaped(b);
  QopModel m = build_qop(g, platform_by_name("trt"), uniform_act_ranges(g, -1.f, 2.f), all_weight_ranges(g), {});
  expect_valid(m);
  EXPECT_EQ(m.qlinear_nodes, (Names{"conv"}));
  EXPECT_EQ(m.graph.network_inputs(), (Names{"x"}));
  for (const auto& in : m.graph.graph().input()) EXPECT_NE(in.name(), "W");
}

TEST(QopBuilder, SkippedConvStaysFloat) {
  OnnxGraph g = conv_act("Relu");
  ActRanges act{{"x", {-1.f, 2.f}}, {"c", {-3.f, 4.f}}, {"y", {0.f, 4.f}}};
  QdqOptions o;
  o.skip_layers = {"conv"};
  QopModel m = build_qop(g, platform_by_name("snpe"), act, all_weight_ranges(g), o);
  expect_valid(m);
  EXPECT_EQ(count_op(m.graph, "QLinearConv"), 0);
  EXPECT_EQ(inputs_of(m.graph, "conv"), (Names{"x", "W", "B"}));
}

TEST(QopTensors, EquivalentTypesAndRounding) {
  QuantParams u;
  u.scale = {0.5f};
  u.zero_point = {10};
  u.zp_type = DType::U8;
  QuantParams s = as_type(u, DType::I8);
  EXPECT_EQ(s.zero_point[0], -118);
  EXPECT_TRUE(same_grid(u, s));
  EXPECT_EQ(representable_range(s), representable_range(u));
  EXPECT_EQ(representable_range(u), (std::pair<double, double>{-5.0, 122.5}));
  // Round half to even, then saturate.
  Tensor x = Tensor::from_vector<float>({5}, {0.25f, 0.75f, -100.f, 1000.f, -0.25f});
  Tensor q = quantize_linear(x, u, -1);
  EXPECT_EQ(std::vector<int>(q.data<uint8_t>(), q.data<uint8_t>() + 5), (std::vector<int>{10, 12, 0, 255, 10}));
  // Per-channel along axis 1.
  QuantParams pc;
  pc.scale = {1.f, 0.1f};
  pc.zero_point = {0, 0};
  pc.zp_type = DType::I8;
  Tensor w = quantize_linear(Tensor::from_vector<float>({2, 2}, {1.f, 1.f, -2.f, -2.f}), pc, 1);
  EXPECT_EQ(std::vector<int>(w.data<int8_t>(), w.data<int8_t>() + 4), (std::vector<int>{1, 10, -2, -20}));
  // Bias beyond int32 is clamped and counted.
  int64_t clamped = 0;
  Tensor b = quantize_bias(Tensor::from_vector<float>({2}, {1e6f, 0.5f}), 1e-4f, {1e-4f}, clamped);
  EXPECT_EQ(clamped, 1);
  EXPECT_EQ(b.data<int32_t>()[0], 2147483647);
  EXPECT_EQ(b.data<int32_t>()[1], static_cast<int32_t>(std::nearbyint(0.5 / double(1e-4f * 1e-4f))));
}

// Found by fuzz_quant (docs/fuzzing.md): a NaN weight was converted to an integer code
// (undefined behaviour). It clamps to the low end, as the runtime's QuantizeLinear does.
TEST(QopTensors, NanAndInfinitiesSaturateAsQuantizeLinearDoes) {
  const float nan = std::nanf(""), inf = INFINITY;
  const Tensor x = Tensor::from_vector<float>({4}, {nan, inf, -inf, 2.f});
  QuantParams u;
  u.scale = {0.5f};
  u.zero_point = {10};
  u.zp_type = DType::U8;
  const Tensor qu = quantize_linear(x, u, -1);
  EXPECT_EQ(std::vector<int>(qu.data<uint8_t>(), qu.data<uint8_t>() + 4), (std::vector<int>{0, 255, 0, 14}));
  const QuantParams s = as_type(u, DType::I8);
  const Tensor qs = quantize_linear(x, s, -1);
  EXPECT_EQ(std::vector<int>(qs.data<int8_t>(), qs.data<int8_t>() + 4), (std::vector<int>{-128, 127, -128, -114}));
  // The runtime's QuantizeLinear on the same input gives the same codes.
  ModelBuilder b;
  b.input("x", {4}).init("s", Tensor::from_vector<float>({}, {0.5f})).init("z", Tensor::from_vector<uint8_t>({}, {10}));
  b.node("QuantizeLinear", {"x", "s", "z"}, {"y"}).output("y", DType::U8);
  Session session(b.graph());
  const Tensor y = session.run({{"x", x}}).at("y");
  EXPECT_EQ(std::vector<int>(y.data<uint8_t>(), y.data<uint8_t>() + 4), (std::vector<int>{0, 255, 0, 14}));
}

}  // namespace
}  // namespace dpl::test
