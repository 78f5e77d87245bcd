// The QDQ builder's placement rules (docs/spec.md 7), one small hand-built graph per rule.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "graph/model_builder.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "util/error.h"

namespace dpl::test {
namespace {

const Platform& P(const std::string& name) { return platform_by_name(name); }

// The built graph with inferred shapes (as the pipeline's prepare() leaves it): the checker
// wants a shape on every graph output.
OnnxGraph shaped(const ModelBuilder& b) {
  OnnxGraph g = b.graph();
  g.infer_shapes();
  return g;
}

QdqModel build(const OnnxGraph& g, const std::string& platform, const QdqOptions& opts = {}) {
  return build_qdq(g, P(platform), uniform_act_ranges(g, -1.f, 2.f), all_weight_ranges(g), opts);
}

// Every built model must pass the checker and type-checked shape inference.
void expect_valid(const QdqModel& m) {
  std::string err = check_onnx(m.graph, true);
  EXPECT_TRUE(err.empty()) << err;
  EXPECT_EQ(m.graph.opset(), 13);
}

std::vector<std::string> pair_tensors(const QdqModel& m) {
  std::vector<std::string> r;
  for (const auto& p : m.pairs) r.push_back(p.tensor);
  return r;
}

using Names = std::vector<std::string>;

// x -> Conv(W, B) -> c -> Relu -> y
OnnxGraph conv_relu(bool with_output_shape = true) {
  ModelBuilder b;
  b.input("x", {1, 2, 4, 4})
      .init("W", random_tensor({3, 2, 3, 3}, 1, -1.f, 1.f))
      .init("B", random_tensor({3}, 2, -1.f, 1.f))
      .node("Conv", {"x", "W", "B"}, {"c"}, "conv")
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
      .node("Relu", {"c"}, {"y"}, "relu");
  if (with_output_shape)
    b.output("y", {1, 3, 4, 4});
  else
    b.output("y");
  return shaped(b);
}

TEST(QdqBuilder, ConvReluMergeAndNaming) {
  OnnxGraph g = conv_relu();
  ActRanges act = uniform_act_ranges(g, -1.f, 2.f);
  act["x"] = Range{-0.5f, 1.5f};
  WeightRanges wr = all_weight_ranges(g);
  QdqModel m = build_qdq(g, P("trt"), act, wr, {});
  expect_valid(m);
  EXPECT_EQ(m.quant_nodes, (Names{"conv", "relu"}));
  EXPECT_EQ(pair_tensors(m), (Names{"x", "W"}));
  // The Conv reads the dequantized input and weight; the bias stays float.
  EXPECT_EQ(inputs_of(m.graph, "conv"), (Names{"x_dq", "W_dq", "B"}));
  // A Relu fed by a Conv is fused: no pair on c.
  EXPECT_EQ(inputs_of(m.graph, "relu"), (Names{"c"}));
  EXPECT_EQ(m.graph.network_outputs(), (Names{"y"}));

  // Names and wiring of a pair.
  const auto* q = find_node(m.graph, "x_QuantizeLinear");
  const auto* dq = find_node(m.graph, "x_DequantizeLinear");
  ASSERT_TRUE(q && dq);
  EXPECT_EQ(q->op_type(), "QuantizeLinear");
  EXPECT_EQ(dq->op_type(), "DequantizeLinear");
  EXPECT_EQ(Names(q->input().begin(), q->input().end()), (Names{"x", "x_scale", "x_zero_point"}));
  EXPECT_EQ(Names(q->output().begin(), q->output().end()), (Names{"x_q"}));
  EXPECT_EQ(Names(dq->input().begin(), dq->input().end()), (Names{"x_q", "x_scale", "x_zero_point"}));
  EXPECT_EQ(Names(dq->output().begin(), dq->output().end()), (Names{"x_dq"}));
  EXPECT_EQ(axis_attr(*q), -100);  // per tensor: no axis
  EXPECT_LT(node_pos(m.graph, "x_DequantizeLinear"), node_pos(m.graph, "conv"));
  EXPECT_LT(node_pos(m.graph, "x_QuantizeLinear"), node_pos(m.graph, "x_DequantizeLinear"));

  // Per-tensor activation parameters: scalars, INT8 zero point (trt is symmetric).
  Tensor xs = m.graph.get_initializer("x_scale");
  Tensor xz = m.graph.get_initializer("x_zero_point");
  EXPECT_EQ(xs.shape(), Shape{});
  EXPECT_EQ(xs.dtype(), DType::F32);
  EXPECT_EQ(xs.data<float>()[0], static_cast<float>(1.5 / 127.0));
  EXPECT_EQ(xz.shape(), Shape{});
  EXPECT_EQ(xz.dtype(), DType::I8);
  EXPECT_EQ(xz.data<int8_t>()[0], 0);

  // Per-channel weight: 1-D scale and zero point along axis 0.
  const auto* wq = find_node(m.graph, "W_QuantizeLinear");
  const auto* wdq = find_node(m.graph, "W_DequantizeLinear");
  ASSERT_TRUE(wq && wdq);
  EXPECT_EQ(axis_attr(*wq), 0);
  EXPECT_EQ(axis_attr(*wdq), 0);
  Tensor ws = m.graph.get_initializer("W_scale");
  Tensor wz = m.graph.get_initializer("W_zero_point");
  EXPECT_EQ(ws.shape(), Shape{3});
  EXPECT_EQ(wz.shape(), Shape{3});
  EXPECT_EQ(wz.dtype(), DType::I8);
  Tensor w = g.get_initializer("W");
  for (int c = 0; c < 3; ++c) {
    float amax = 0;
    for (int i = 0; i < 18; ++i) amax = std::max(amax, std::fabs(w.data<float>()[c * 18 + i]));
    EXPECT_EQ(ws.data<float>()[c], static_cast<float>(amax / 127.0)) << c;
  }
  const QdqPair* pw = m.pair("W");
  ASSERT_NE(pw, nullptr);
  EXPECT_TRUE(pw->weight);
  EXPECT_EQ(pw->axis, 0);
  EXPECT_EQ(m.graph.value_type("x_q"), DType::I8);
  EXPECT_EQ(m.graph.value_type("x_dq"), DType::F32);
  // The original graph is untouched.
  EXPECT_EQ(inputs_of(g, "conv"), (Names{"x", "W", "B"}));
}

TEST(QdqBuilder, ReluMergesOnlyIntoConvGemmAdd) {
  // x -> MaxPool -> p -> Relu: the Relu's input gets a pair. x -> Add(x, x) -> a -> Relu: none.
  ModelBuilder b;
  b.input("x", {1, 1, 4, 4})
      .node("MaxPool", {"x"}, {"p"}, "pool")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .node("Relu", {"p"}, {"r1"}, "relu1")
      .node("Add", {"x", "x"}, {"a"}, "add")
      .node("Relu", {"a"}, {"r2"}, "relu2")
      .output("r1")
      .output("r2");
  QdqModel m = build(shaped(b), "snpe");
  expect_valid(m);
  EXPECT_EQ(inputs_of(m.graph, "relu1"), (Names{"p_dq"}));
  EXPECT_EQ(inputs_of(m.graph, "relu2"), (Names{"a"}));
  // Add(x, x): both inputs read the one pair of x.
  EXPECT_EQ(inputs_of(m.graph, "add"), (Names{"x_dq", "x_dq"}));
  EXPECT_EQ(count_op(m.graph, "QuantizeLinear"), 4);  // x, p, and the two outputs
}

TEST(QdqBuilder, SharedActivationPair) {
  // a has three consumers: two Convs (quantized) and a Softmax (not on trt).
  ModelBuilder b;
  b.input("x", {1, 2, 4, 4})
      .init("W1", random_tensor({2, 2, 1, 1}, 3, -1.f, 1.f))
      .init("W2", random_tensor({2, 2, 1, 1}, 4, -1.f, 1.f))
      .init("W3", random_tensor({2, 2, 1, 1}, 5, -1.f, 1.f))
      .node("Conv", {"x", "W1"}, {"a"}, "conv1")
      .node("Softmax", {"a"}, {"s"}, "softmax")
      .node("Conv", {"a", "W2"}, {"b"}, "conv2")
      .node("Conv", {"a", "W3"}, {"c"}, "conv3")
      .output("s")
      .output("b")
      .output("c");
  QdqModel m = build(shaped(b), "trt");
  expect_valid(m);
  EXPECT_EQ(pair_tensors(m), (Names{"x", "W1", "a", "W2", "W3"}));
  EXPECT_EQ(count_op(m.graph, "QuantizeLinear"), 5);
  EXPECT_EQ(count_op(m.graph, "DequantizeLinear"), 5);
  EXPECT_EQ(inputs_of(m.graph, "conv2")[0], "a_dq");
  EXPECT_EQ(inputs_of(m.graph, "conv3")[0], "a_dq");
  EXPECT_EQ(inputs_of(m.graph, "softmax")[0], "a");
  // Placed before its first quantized consumer.
  EXPECT_LT(node_pos(m.graph, "a_DequantizeLinear"), node_pos(m.graph, "conv2"));
  EXPECT_GT(node_pos(m.graph, "a_QuantizeLinear"), node_pos(m.graph, "conv1"));
}

TEST(QdqBuilder, ReluPReluMulOnGraphInputOrConstant) {
  ModelBuilder b;
  b.input("x", {1, 3, 2, 2})
      .init("k", random_tensor({1, 3, 1, 1}, 6, 0.5f, 1.f))
      .init("slope", random_tensor({3, 1, 1}, 7, 0.f, 0.3f))
      .node("Relu", {"x"}, {"r"}, "relu")            // graph input: nothing
      .node("PRelu", {"x", "slope"}, {"p"}, "prelu")  // graph input: nothing, not even the slope
      .node("Mul", {"x", "k"}, {"m1"}, "mul1")        // graph input: nothing
      .node("Abs", {"m1"}, {"a"}, "abs")              // quantizes m1
      .node("Mul", {"k", "a"}, {"m2"}, "mul2")        // input 0 is an initializer: nothing
      .node("Mul", {"a", "k"}, {"m3"}, "mul3")        // a quantized, the constant stays float
      .node("Sigmoid", {"r"}, {"s"}, "sig")
      .output("p")
      .output("m2")
      .output("m3")
      .output("s");
  OnnxGraph g = shaped(b);
  QdqModel m = build(g, "snpe");
  expect_valid(m);
  EXPECT_EQ(inputs_of(m.graph, "relu"), (Names{"x"}));
  EXPECT_EQ(inputs_of(m.graph, "prelu"), (Names{"x", "slope"}));
  EXPECT_EQ(inputs_of(m.graph, "mul1"), (Names{"x", "k"}));
  EXPECT_EQ(inputs_of(m.graph, "abs"), (Names{"m1_dq"}));
  EXPECT_EQ(inputs_of(m.graph, "mul2"), (Names{"k", "a"}));
  EXPECT_EQ(inputs_of(m.graph, "mul3"), (Names{"a_dq", "k"}));
  EXPECT_EQ(inputs_of(m.graph, "sig"), (Names{"r_dq"}));
  EXPECT_EQ(m.pair("x"), nullptr);
  EXPECT_EQ(m.pair("slope"), nullptr);
  EXPECT_EQ(m.pair("k"), nullptr);
  // trt: a Relu on a graph input gets nothing either, the Conv after it does.
  ModelBuilder t;
  t.input("x", {1, 2, 3, 3})
      .init("W", random_tensor({1, 2, 1, 1}, 8, -1.f, 1.f))
      .node("Relu", {"x"}, {"r"}, "relu")
      .node("Conv", {"r", "W"}, {"y"}, "conv")
      .output("y");
  QdqModel mt = build(shaped(t), "trt");
  expect_valid(mt);
  EXPECT_EQ(inputs_of(mt.graph, "relu"), (Names{"x"}));
  EXPECT_EQ(inputs_of(mt.graph, "conv"), (Names{"r_dq", "W_dq"}));
}

// x -> Sigmoid -> r; x -> conv1 -> c1; x -> conv2 -> c2;
// s1 = Add(c1, c2), s2 = Add(r, c1), s3 = Add(c1, c1)
OnnxGraph adds() {
  ModelBuilder b;
  b.input("x", {1, 2, 3, 3})
      .init("W1", random_tensor({2, 2, 1, 1}, 9, -1.f, 1.f))
      .init("W2", random_tensor({2, 2, 1, 1}, 10, -1.f, 1.f))
      .node("Sigmoid", {"x"}, {"r"}, "sig")
      .node("Conv", {"x", "W1"}, {"c1"}, "conv1")
      .node("Conv", {"x", "W2"}, {"c2"}, "conv2")
      .node("Add", {"c1", "c2"}, {"s1"}, "add1")
      .node("Add", {"r", "c1"}, {"s2"}, "add2")
      .node("Add", {"c1", "c1"}, {"s3"}, "add3")
      .output("s1")
      .output("s2")
      .output("s3");
  return shaped(b);
}

TEST(QdqBuilder, TrtAddLeavesFirstConvInputFloat) {
  QdqModel m = build(adds(), "trt");
  expect_valid(m);
  EXPECT_EQ(inputs_of(m.graph, "add1"), (Names{"c1", "c2_dq"}));  // first Conv input skipped, second quantized
  EXPECT_EQ(inputs_of(m.graph, "add2"), (Names{"r_dq", "c1"}));   // the first Conv-produced input is input 1
  EXPECT_EQ(inputs_of(m.graph, "add3"), (Names{"c1", "c1_dq"}));  // only the first one
  // Other platforms quantize both.
  QdqModel r = build(adds(), "rv");
  expect_valid(r);
  EXPECT_EQ(inputs_of(r.graph, "add1"), (Names{"c1_dq", "c2_dq"}));
  EXPECT_EQ(inputs_of(r.graph, "add2"), (Names{"r_dq", "c1_dq"}));
}

TEST(QdqBuilder, NetworkOutputPairs) {
  // y = Conv(x) is a graph output and also feeds a quantized Abs; z = Relu(y) is fused into
  // the Conv but is a graph output too.
  auto graph = [] {
    ModelBuilder b;
    b.input("x", {1, 2, 3, 3})
        .init("W", random_tensor({2, 2, 1, 1}, 11, -1.f, 1.f))
        .node("Conv", {"x", "W"}, {"y"}, "conv")
        .node("Relu", {"y"}, {"z"}, "relu")
        .node("Abs", {"y"}, {"w"}, "abs")
        .node("Softmax", {"w"}, {"v"}, "softmax")
        .output("y", {1, 2, 3, 3})
        .output("z", {1, 2, 3, 3})
        .output("v", {1, 2, 3, 3});
    return shaped(b);
  };
  for (const char* name : {"rv", "snpe", "imx"}) {
    SCOPED_TRACE(name);
    OnnxGraph g = graph();
    QdqModel m = build(g, name);
    expect_valid(m);
    EXPECT_EQ(m.graph.network_outputs(), (Names{"y_dq", "z_dq", "v_dq"}));
    EXPECT_EQ(m.outputs.at("y"), "y_dq");
    EXPECT_EQ(m.outputs.at("v"), "v_dq");
    // y: one pair, shared by the Abs and the graph output.
    EXPECT_EQ(inputs_of(m.graph, "abs"), (Names{"y_dq"}));
    EXPECT_EQ(inputs_of(m.graph, "relu"), (Names{"y"}));
    EXPECT_EQ(count_op(m.graph, "QuantizeLinear"), 5);  // x, W, y, z, v
    // Output pairs right after the producer.
    EXPECT_EQ(node_pos(m.graph, "z_QuantizeLinear"), node_pos(m.graph, "relu") + 1);
    EXPECT_EQ(node_pos(m.graph, "v_QuantizeLinear"), node_pos(m.graph, "softmax") + 1);
    EXPECT_EQ(m.graph.value_type("v_dq"), DType::F32);
    EXPECT_EQ(m.graph.value_type("v"), DType::F32);  // still typed as an intermediate
    const QuantParams& p = m.pair("v")->params;
    const bool sym = std::string(name) == "imx";
    EXPECT_EQ(p.zp_type, sym ? DType::I8 : DType::U8);
    if (sym) {
      EXPECT_EQ(p.scale[0], 0.015625f);  // 2/127 = 2^-5.99 -> 2^-6
    } else {
      EXPECT_EQ(p.scale[0], static_cast<float>(3.0 / 255.0));
    }
    // It runs, and the outputs are on the quantization grid.
    Session s(m.graph);
    TensorMap out = s.run({{"x", random_tensor({1, 2, 3, 3}, 12, -1.f, 1.f)}});
    ASSERT_EQ(out.count("v_dq"), 1u);
    const Tensor& v = out.at("v_dq");
    for (int64_t i = 0; i < v.numel(); ++i) {
      double q = v.data<float>()[i] / p.scale[0];
      EXPECT_NEAR(q, std::round(q), 1e-3) << i;
    }
  }
  QdqModel t = build(graph(), "trt");
  expect_valid(t);
  EXPECT_EQ(t.graph.network_outputs(), (Names{"y", "z", "v"}));
  EXPECT_EQ(t.outputs.at("y"), "y");
  EXPECT_EQ(t.pair("v"), nullptr);
}

TEST(QdqBuilder, SkipLayers) {
  QdqOptions o;
  o.skip_layers = {"conv", "no_such_node"};
  QdqModel m = build(conv_relu(), "trt", o);
  expect_valid(m);
  EXPECT_TRUE(m.pairs.empty());
  EXPECT_EQ(inputs_of(m.graph, "conv"), (Names{"x", "W", "B"}));
  EXPECT_EQ(m.quant_nodes, (Names{"relu"}));
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_NE(m.warnings[0].find("no_such_node"), std::string::npos) << m.warnings[0];
  // Skipping the Relu only: the Conv is still quantized.
  o.skip_layers = {"relu"};
  QdqModel r = build(conv_relu(), "trt", o);
  EXPECT_EQ(pair_tensors(r), (Names{"x", "W"}));
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.quant_nodes, (Names{"conv"}));
}

TEST(QdqBuilder, QuietKeepsWarningsOutOfTheLog) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.push_back(sink);
  QdqOptions o;
  o.skip_layers = {"no_such_node"};
  o.quiet = true;
  const QdqModel quiet = build(conv_relu(), "trt", o);
  const size_t logged_quiet = sink->last_formatted().size();
  o.quiet = false;
  const QdqModel loud = build(conv_relu(), "trt", o);
  const auto logged = sink->last_formatted();
  sinks.pop_back();
  EXPECT_EQ(logged_quiet, 0u);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("no_such_node"), std::string::npos) << logged[0];
  EXPECT_EQ(quiet.warnings, loud.warnings);
  ASSERT_EQ(quiet.warnings.size(), 1u);
  EXPECT_EQ(quiet.graph.model().SerializeAsString(), loud.graph.model().SerializeAsString());
}

TEST(QdqBuilder, ConvTransposeWeightAxis1) {
  // Weight [C_in = 2, C_out = 3, 2, 2]: output channels on axis 1.
  ModelBuilder b;
  b.input("x", {1, 2, 3, 3})
      .init("W", random_tensor({2, 3, 2, 2}, 13, -1.f, 1.f))
      .init("B", random_tensor({3}, 14, -1.f, 1.f))
      .node("ConvTranspose", {"x", "W", "B"}, {"y"}, "deconv")
      .output("y");
  OnnxGraph g = shaped(b);
  WeightRanges wr;
  Tensor w = g.get_initializer("W");
  wr["W"] = channel_ranges(w, 1);
  wr["B"] = channel_ranges(g.get_initializer("B"), 0);
  QdqModel m = build_qdq(g, P("trt"), uniform_act_ranges(g, -1.f, 1.f), wr, {});
  expect_valid(m);
  EXPECT_EQ(inputs_of(m.graph, "deconv"), (Names{"x_dq", "W_dq", "B"}));
  EXPECT_EQ(axis_attr(*find_node(m.graph, "W_QuantizeLinear")), 1);
  EXPECT_EQ(axis_attr(*find_node(m.graph, "W_DequantizeLinear")), 1);
  Tensor ws = m.graph.get_initializer("W_scale");
  ASSERT_EQ(ws.shape(), Shape{3});
  // Channel c: max |W[:, c, :, :]| / 127.
  for (int c = 0; c < 3; ++c) {
    float amax = 0;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) amax = std::max(amax, std::fabs(w.data<float>()[(i * 3 + c) * 4 + k]));
    EXPECT_EQ(ws.data<float>()[c], static_cast<float>(amax / 127.0)) << c;
  }
  Session s(m.graph);
  EXPECT_NO_THROW(s.run({{"x", random_tensor({1, 2, 3, 3}, 15)}}));
  // Ranges over axis 0 (2 channels) do not fit: a clear error naming the weight.
  wr["W"] = channel_ranges(w, 0);
  try {
    build_qdq(g, P("trt"), uniform_act_ranges(g, -1.f, 1.f), wr, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'W'"), std::string::npos) << e.what();
  }
  // Per-tensor platforms do not care about the channel count.
  EXPECT_NO_THROW(build_qdq(g, P("rv"), uniform_act_ranges(g, -1.f, 1.f), wr, {}));
}

TEST(QdqBuilder, GemmWeightAxisFollowsTransB) {
  ModelBuilder b;
  b.input("x", {2, 4})
      .init("B0", random_tensor({4, 3}, 16, -1.f, 1.f))   // transB = 0: [K, N]
      .init("B1", random_tensor({3, 4}, 17, -1.f, 1.f))   // transB = 1: [N, K]
      .init("C", random_tensor({3}, 18, -1.f, 1.f))
      .node("Gemm", {"x", "B0", "C"}, {"y0"}, "gemm0")
      .node("Gemm", {"x", "B1", "C"}, {"y1"}, "gemm1")
      .attr("transB", int64_t{1})
      .output("y0")
      .output("y1");
  OnnxGraph g = shaped(b);
  QdqModel m = build(g, "trt");
  expect_valid(m);
  EXPECT_EQ(inputs_of(m.graph, "gemm0"), (Names{"x_dq", "B0_dq", "C"}));
  EXPECT_EQ(axis_attr(*find_node(m.graph, "B0_QuantizeLinear")), 1);
  EXPECT_EQ(axis_attr(*find_node(m.graph, "B1_QuantizeLinear")), 0);
  EXPECT_EQ(m.graph.get_initializer("B0_scale").shape(), Shape{3});
  EXPECT_EQ(m.graph.get_initializer("B1_scale").shape(), Shape{3});
  // B0's scale for output n: max_k |B0[k, n]| / 127.
  Tensor b0 = g.get_initializer("B0");
  for (int n = 0; n < 3; ++n) {
    float amax = 0;
    for (int k = 0; k < 4; ++k) amax = std::max(amax, std::fabs(b0.data<float>()[k * 3 + n]));
    EXPECT_EQ(m.graph.get_initializer("B0_scale").data<float>()[n], static_cast<float>(amax / 127.0));
  }
  Session s(m.graph);
  EXPECT_NO_THROW(s.run({{"x", random_tensor({2, 4}, 19)}}));
  // Ranges over the input axis (4 channels, as the original took) are refused.
  WeightRanges wr = all_weight_ranges(g);
  wr["B0"] = channel_ranges(b0, 0);
  EXPECT_THROW(build_qdq(g, P("trt"), uniform_act_ranges(g, -1.f, 1.f), wr, {}), Error);
}

TEST(QdqBuilder, MatMulConstantWeightOnMagicmind) {
  ModelBuilder b;
  b.input("x", {2, 4})
      .input("x3", {3, 2, 4})
      .init("B", random_tensor({4, 5}, 20, -1.f, 1.f))
      .init("B3", random_tensor({3, 4, 5}, 21, -1.f, 1.f))
      .init("A", random_tensor({3, 2}, 22, -1.f, 1.f))
      .node("MatMul", {"x", "B"}, {"y"}, "mm")
      .node("MatMul", {"x3", "B3"}, {"y3"}, "mm3")
      .node("MatMul", {"A", "x"}, {"ya"}, "mma")  // constant first factor: stays float
      .output("y")
      .output("y3")
      .output("ya");
  OnnxGraph g = shaped(b);
  QdqModel m = build(g, "magicmind");
  expect_valid(m);
  EXPECT_EQ(inputs_of(m.graph, "mm"), (Names{"x_dq", "B_dq"}));
  EXPECT_EQ(inputs_of(m.graph, "mm3"), (Names{"x3_dq", "B3_dq"}));
  EXPECT_EQ(inputs_of(m.graph, "mma"), (Names{"A", "x_dq"}));
  EXPECT_EQ(axis_attr(*find_node(m.graph, "B_QuantizeLinear")), 1);
  EXPECT_EQ(axis_attr(*find_node(m.graph, "B3_QuantizeLinear")), 2);
  Tensor bz = m.graph.get_initializer("B_zero_point");
  EXPECT_EQ(bz.dtype(), DType::U8);  // magicmind weights are asymmetric
  EXPECT_EQ(bz.shape(), Shape{5});
  EXPECT_EQ(m.graph.get_initializer("x_zero_point").dtype(), DType::U8);
  Session s(m.graph);
  EXPECT_NO_THROW(s.run({{"x", random_tensor({2, 4}, 23)}, {"x3", random_tensor({3, 2, 4}, 24)}}));
  // Platforms that do not quantize MatMul leave it alone.
  QdqModel t = build(g, "trt");
  EXPECT_TRUE(t.pairs.empty());
  EXPECT_EQ(inputs_of(t.graph, "mm"), (Names{"x", "B"}));
}

TEST(QdqBuilder, MissingRangeNamesTheTensor) {
  OnnxGraph g = conv_relu();
  ActRanges act = uniform_act_ranges(g, -1.f, 1.f);
  act.erase("x");
  try {
    build_qdq(g, P("trt"), act, all_weight_ranges(g), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
  WeightRanges wr = all_weight_ranges(g);
  wr.erase("W");
  try {
    build_qdq(g, P("trt"), uniform_act_ranges(g, -1.f, 1.f), wr, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'W'"), std::string::npos) << e.what();
  }
  // An output range missing on a platform that quantizes outputs. (The Relu is fused, so y
  // is needed only as a graph output.)
  act = uniform_act_ranges(g, -1.f, 1.f);
  act.erase("y");
  EXPECT_NO_THROW(build_qdq(g, P("trt"), act, all_weight_ranges(g), {}));
  try {
    build_qdq(g, P("rv"), act, all_weight_ranges(g), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'y'"), std::string::npos) << e.what();
  }
  // A non-finite range.
  act = uniform_act_ranges(g, -1.f, 1.f);
  act["x"] = Range{-INFINITY, 1.f};
  try {
    build_qdq(g, P("trt"), act, all_weight_ranges(g), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
}

// c = Conv(x); PRelu(c, slope): the pair of c is created at the PRelu, and the original then
// leaves the slope float. a = Conv(x); Mul(a, Sigmoid(a)): a got its pair at the Sigmoid, so
// the Mul's second input is quantized; Mul(Sigmoid(b), b): the Sigmoid's output gets its
// pair at the Mul, so b stays float there.
OnnxGraph relu_type_graph() {
  ModelBuilder b;
  b.input("x", {1, 2, 3, 3})
      .init("W1", random_tensor({2, 2, 1, 1}, 25, -1.f, 1.f))
      .init("W2", random_tensor({2, 2, 1, 1}, 26, -1.f, 1.f))
      .init("W3", random_tensor({2, 2, 1, 1}, 27, -1.f, 1.f))
      .init("slope", random_tensor({2, 1, 1}, 28, 0.f, 0.3f))
      .node("Conv", {"x", "W1"}, {"c"}, "conv1")
      .node("PRelu", {"c", "slope"}, {"p"}, "prelu")
      .node("Conv", {"x", "W2"}, {"a"}, "conv2")
      .node("Sigmoid", {"a"}, {"sa"}, "sig_a")
      .node("Mul", {"a", "sa"}, {"m1"}, "mul1")
      .node("Conv", {"x", "W3"}, {"b"}, "conv3")
      .node("Sigmoid", {"b"}, {"sb"}, "sig_b")
      .node("Mul", {"sb", "b"}, {"m2"}, "mul2")
      .output("p")
      .output("m1")
      .output("m2");
  return shaped(b);
}

TEST(QdqBuilder, ReluTypeLaterInputsAsTheOriginal) {
  QdqModel m = build(relu_type_graph(), "snpe");
  expect_valid(m);
  EXPECT_EQ(inputs_of(m.graph, "prelu"), (Names{"c_dq", "slope"}));
  EXPECT_EQ(inputs_of(m.graph, "mul1"), (Names{"a_dq", "sa_dq"}));
  EXPECT_EQ(inputs_of(m.graph, "mul2"), (Names{"sb_dq", "b"}));
  EXPECT_EQ(inputs_of(m.graph, "sig_b"), (Names{"b_dq"}));
  // Without the original's quirk every input is quantized.
  QdqOptions o;
  o.original_relu_type_inputs = false;
  QdqModel f = build(relu_type_graph(), "snpe", o);
  expect_valid(f);
  EXPECT_EQ(inputs_of(f.graph, "prelu"), (Names{"c_dq", "slope_dq"}));
  EXPECT_TRUE(f.pair("slope")->weight);
  EXPECT_EQ(inputs_of(f.graph, "mul2"), (Names{"sb_dq", "b_dq"}));
  // trt quantizes PRelu but not Mul; per-channel slope along axis 0.
  QdqModel t = build(relu_type_graph(), "trt", o);
  expect_valid(t);
  EXPECT_EQ(axis_attr(*find_node(t.graph, "slope_QuantizeLinear")), 0);
  EXPECT_EQ(inputs_of(t.graph, "mul2"), (Names{"sb", "b"}));
}

TEST(QdqBuilder, NonFloatAndOmittedInputsLeftAlone) {
  // Concat of int64 shape tensors and Split with its int64 `split` input: no pair, no range
  // needed. Clip with an omitted min (stpu quantizes Clip).
  ModelBuilder b;
  b.input("x", {2, 6})
      .init("extra", Tensor::from_vector<int64_t>({1}, {1}))
      .init("split", Tensor::from_vector<int64_t>({2}, {2, 4}))
      .init("hi", Tensor::scalar<float>(0.5f))
      .node("Shape", {"x"}, {"s"}, "shape")
      .node("Concat", {"s", "extra"}, {"s3"}, "concat")
      .attr("axis", int64_t{0})
      .node("Reshape", {"x", "s3"}, {"r"}, "reshape")
      .node("Split", {"x", "split"}, {"p0", "p1"}, "split")
      .attr("axis", int64_t{1})
      .node("Clip", {"p0", "", "hi"}, {"c"}, "clip")
      .output("r", {2, 6, 1})
      .output("p1")
      .output("c");
  OnnxGraph g = shaped(b);
  ActRanges act;
  for (const char* t : {"x", "r", "p0", "p1", "c"}) act[t] = Range{-1.f, 1.f};
  QdqModel m = build_qdq(g, P("stpu"), act, {}, {});
  expect_valid(m);
  EXPECT_EQ(inputs_of(m.graph, "concat"), (Names{"s", "extra"}));
  EXPECT_EQ(inputs_of(m.graph, "split"), (Names{"x_dq", "split"}));
  EXPECT_EQ(inputs_of(m.graph, "clip"), (Names{"p0_dq", "", "hi"}));
  Session s(m.graph);
  EXPECT_NO_THROW(s.run({{"x", random_tensor({2, 6}, 29, -1.f, 1.f)}}));
}

TEST(QdqBuilder, OldOpsetRefused) {
  ModelBuilder b(11, 6);
  b.input("x", {1, 2}).node("Relu", {"x"}, {"y"}, "relu").output("y");
  EXPECT_THROW(build(shaped(b), "trt"), Error);
}

TEST(QdqBuilder, NameClashRefused) {
  // The model already has a tensor named x_q: the pair of x cannot be named.
  ModelBuilder b;
  b.input("x", {1, 2, 3, 3})
      .init("W", random_tensor({1, 2, 1, 1}, 30, -1.f, 1.f))
      .node("Abs", {"x"}, {"x_q"}, "abs")
      .node("Conv", {"x", "W"}, {"y"}, "conv")
      .output("x_q")
      .output("y");
  try {
    build(shaped(b), "trt");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x_q'"), std::string::npos) << e.what();
  }
}

TEST(QdqBuilder, SavesAndReloads) {
  namespace fs = std::filesystem;
  QdqModel m = build(conv_relu(false), "rv");
  fs::path dir = fs::temp_directory_path() / ("dpl_qdq_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "quant_model.onnx").string();
  m.graph.save(path);
  EXPECT_NO_THROW(onnx::checker::check_model(path));
  OnnxGraph back = OnnxGraph::load(path);
  EXPECT_EQ(back.serialize(), m.graph.serialize());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dpl::test
