// Sub-8-bit QDQ models (quant/qdq_builder.h, docs/quant-config.md "Sub-8-bit models"): at 4 and
// 2 bits the model keeps every code inside the narrow grid by itself (a Clip before each
// activation's QuantizeLinear, weights clipped to the grid's ends), checked against codes
// worked out by hand; at 8 bits nothing changes; profiling's copy computes the same numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "graph/model_builder.h"
#include "profile/subgraph.h"
#include "quant/precision.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

const Platform& P(const std::string& name) { return platform_by_name(name); }

// x [1, 1, 1, 4] -> conv (1x1 weight W, `out` channels) -> y.
OnnxGraph one_conv(const std::vector<float>& w) {
  const int64_t out = static_cast<int64_t>(w.size());
  ModelBuilder b;
  b.input("x", {1, 1, 1, 4})
      .init("W", Tensor::from_vector<float>({out, 1, 1, 1}, w))
      .node("Conv", {"x", "W"}, {"y"}, "conv")
      .output("y", {1, out, 1, 4});
  OnnxGraph g = b.graph();
  g.infer_shapes();
  return g;
}

QdqOptions bits(const std::string& platform, int w, int a) {
  PrecisionOptions o;
  o.w_bits = w;
  o.a_bits = a;
  QdqOptions q;
  q.precision = std::make_shared<const PrecisionPlan>(P(platform), o);
  return q;
}

std::vector<float> values(const Tensor& t) { return t.to_f32_vector(); }

int count_op(const OnnxGraph& g, const std::string& op) {
  int n = 0;
  for (const auto& nd : g.graph().node()) n += nd.op_type() == op;
  return n;
}

TEST(QdqLowBit, FourBitSymmetricCodesByHand) {
  OnnxGraph g = one_conv({0.5f});
  // Weight range narrower than the weight, as a searched clip gives: s_w = 0.25 / 7, so 0.5
  // (code 14) lands on the grid's end, code 7.
  WeightRanges wr{{"W", {{-0.25f}, {0.25f}}}};
  ActRanges act{{"x", {-1.f, 2.f}}, {"y", {-1.f, 1.f}}};
  QdqModel m = build_qdq(g, P("trt"), act, wr, bits("trt", 4, 4));
  EXPECT_TRUE(check_onnx(m.graph, true).empty()) << check_onnx(m.graph, true);

  const QdqPair* x = m.pair("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->params.bits, 4);
  EXPECT_EQ(x->params.qmin[0], -7);
  EXPECT_EQ(x->params.qmax[0], 7);
  const float s = static_cast<float>(2.0 / 7);
  EXPECT_FLOAT_EQ(x->params.scale[0], s);
  // The Clip to the grid's dequantized ends, before QuantizeLinear.
  ASSERT_TRUE(m.graph.has_node("x_Clip"));
  EXPECT_EQ(m.graph.node(m.graph.node_index("x_QuantizeLinear")).input(0), "x_clip");
  EXPECT_FLOAT_EQ(values(m.graph.get_initializer("x_clip_min"))[0], -2.f);
  EXPECT_FLOAT_EQ(values(m.graph.get_initializer("x_clip_max"))[0], 2.f);
  // The weight: clipped to 7 * s_w in the model's copy; nothing else reads W.
  const float sw = static_cast<float>(0.25 / 7);
  EXPECT_EQ(m.graph.node(m.graph.node_index("W_QuantizeLinear")).input(0), "W");
  EXPECT_FLOAT_EQ(values(m.graph.get_initializer("W"))[0], static_cast<float>(7 * double(sw)));
  EXPECT_FALSE(m.graph.has_node("W_Clip"));

  // x/s = -10.5, -0.7, 0.525, 17.5: codes -7 (clipped), -1, 1, 7 (clipped).
  Session sess(m.graph);
  TensorMap out = sess.run({{"x", Tensor::from_vector<float>({1, 1, 1, 4}, {-3.f, -0.2f, 0.15f, 5.f})}},
                           {"x_dq", "W_dq", "y"});
  const std::vector<float> xdq = values(out.at("x_dq"));
  const std::vector<float> want{-7 * s, -1 * s, 1 * s, 7 * s};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(xdq[i], want[i]) << i;
  const float wdq = values(out.at("W_dq"))[0];
  EXPECT_FLOAT_EQ(wdq, 7 * sw);
  const std::vector<float> y = values(out.at("y"));
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y[i], want[i] * wdq) << i;
}

TEST(QdqLowBit, TwoBitAsymmetricCodesByHand) {
  OnnxGraph g = one_conv({0.9f, -0.3f});
  // snpe: asymmetric per-tensor weights and activations, the graph output quantized too.
  // Weights over [-0.3, 0.6]: s = 0.9 / 3 = 0.3, zp = 1, codes 0..3 = {-0.3, 0, 0.3, 0.6}: 0.9
  // (code 4) lands on 0.6.
  WeightRanges wr{{"W", {{-0.3f, -0.3f}, {0.6f, 0.6f}}}};
  // x over [-1, 2]: s = 1, zp = 1, grid {-1, 0, 1, 2}. y over [-4, 2]: s = 2, zp = 2, {-4, -2, 0, 2}.
  ActRanges act{{"x", {-1.f, 2.f}}, {"y", {-4.f, 2.f}}};
  QdqModel m = build_qdq(g, P("snpe"), act, wr, bits("snpe", 2, 2));
  EXPECT_TRUE(check_onnx(m.graph, true).empty()) << check_onnx(m.graph, true);
  const QdqPair* x = m.pair("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->params.zero_point[0], 1);
  EXPECT_EQ(x->params.qmin[0], -1);
  EXPECT_EQ(x->params.qmax[0], 2);
  EXPECT_EQ(x->params.zp_type, DType::U8);
  const QdqPair* w = m.pair("W");
  ASSERT_NE(w, nullptr);
  EXPECT_FLOAT_EQ(w->params.scale[0], 0.3f);
  EXPECT_EQ(w->params.zero_point[0], 1);
  const std::vector<float> wc = values(m.graph.get_initializer("W"));
  EXPECT_FLOAT_EQ(wc[0], 0.6f);
  EXPECT_FLOAT_EQ(wc[1], -0.3f);
  ASSERT_TRUE(m.graph.has_node("y_Clip")) << "the output pair is 2-bit too";
  EXPECT_EQ(count_op(m.graph, "Clip"), 2);

  // x: -3 -> -1 (clipped), 0.4 -> 0, 1.6 -> 2, 7 -> 2 (clipped).
  Session sess(m.graph);
  const std::string y_name = m.outputs.at("y");
  TensorMap out = sess.run({{"x", Tensor::from_vector<float>({1, 1, 1, 4}, {-3.f, 0.4f, 1.6f, 7.f})}},
                           {"x_dq", "W_dq", y_name});
  EXPECT_EQ(values(out.at("x_dq")), (std::vector<float>{-1.f, 0.f, 2.f, 2.f}));
  const std::vector<float> wdq = values(out.at("W_dq"));
  EXPECT_FLOAT_EQ(wdq[0], 0.6f);
  EXPECT_FLOAT_EQ(wdq[1], -0.3f);
  // Channel 0: 0.6 * {-1, 0, 2, 2} = {-0.6, 0, 1.2, 1.2} -> y grid {-4, -2, 0, 2}: -0.6 -> 0
  // (code 2 - 0.3 = round(-0.3) = 0), 1.2 -> 2 (0.6 rounds to 1). Channel 1: -0.3 * x =
  // {0.3, 0, -0.6, -0.6} -> {0, 0, 0, 0}.
  EXPECT_EQ(values(out.at(y_name)), (std::vector<float>{0.f, 0.f, 2.f, 2.f, 0.f, 0.f, 0.f, 0.f}));
}

TEST(QdqLowBit, SharedWeightGetsItsOwnClippedCopy) {
  // W feeds a quantized Conv and a skipped one: the skipped one keeps the FP32 values.
  ModelBuilder b;
  b.input("x", {1, 1, 1, 2})
      .init("W", Tensor::from_vector<float>({1, 1, 1, 1}, {0.5f}))
      .node("Conv", {"x", "W"}, {"a"}, "qconv")
      .node("Conv", {"x", "W"}, {"b"}, "fconv")
      .output("a", {1, 1, 1, 2})
      .output("b", {1, 1, 1, 2});
  OnnxGraph g = b.graph();
  g.infer_shapes();
  QdqOptions q = bits("trt", 4, 8);
  q.skip_layers = {"fconv"};
  QdqModel m = build_qdq(g, P("trt"), {{"x", {-1.f, 1.f}}}, {{"W", {{-0.25f}, {0.25f}}}}, q);
  EXPECT_TRUE(check_onnx(m.graph, false).empty());
  EXPECT_EQ(m.graph.node(m.graph.node_index("W_QuantizeLinear")).input(0), "W_clipped");
  EXPECT_FLOAT_EQ(values(m.graph.get_initializer("W"))[0], 0.5f);
  EXPECT_FLOAT_EQ(values(m.graph.get_initializer("W_clipped"))[0], 0.25f);
  EXPECT_EQ(m.graph.node(m.graph.node_index("fconv")).input(1), "W");
  EXPECT_FALSE(m.graph.has_node("x_Clip")) << "activations stay at 8 bits here";
}

TEST(QdqLowBit, EightBitModelsHaveNoClip) {
  OnnxGraph g = one_conv({0.5f, -1.5f});
  WeightRanges wr{{"W", {{-0.25f, -1.f}, {0.25f, 1.f}}}};  // beyond the range: 8 bits saturate as ONNX says
  ActRanges act{{"x", {-1.f, 2.f}}, {"y", {-1.f, 1.f}}};
  for (const char* platform : {"trt", "snpe"}) {
    QdqModel plain = build_qdq(g, P(platform), act, wr, {});
    QdqModel planned = build_qdq(g, P(platform), act, wr, bits(platform, 8, 8));
    EXPECT_EQ(count_op(planned.graph, "Clip"), 0);
    EXPECT_EQ(plain.graph.model().SerializeAsString(), planned.graph.model().SerializeAsString()) << platform;
    EXPECT_EQ(values(planned.graph.get_initializer("W")), (std::vector<float>{0.5f, -1.5f}));
  }
}

TEST(QdqLowBit, ProfilingGraphComputesWhatTheModelComputes) {
  OnnxGraph g = one_conv({0.9f, -0.3f});
  WeightRanges wr{{"W", {{-0.3f, -0.3f}, {0.6f, 0.6f}}}};
  ActRanges act{{"x", {-1.f, 2.f}}, {"y", {-4.f, 2.f}}};
  for (const char* platform : {"trt", "snpe"}) {
    QdqModel m = build_qdq(g, P(platform), act, wr, bits(platform, 3, 4));
    const TensorMap feed{{"x", Tensor::from_vector<float>({1, 1, 1, 4}, {-3.f, 0.4f, 1.6f, 7.f})}};
    const std::string y = m.outputs.at("y");
    Session model(m.graph), prof(profiling_graph(m));
    EXPECT_EQ(values(model.run(feed, {y}).at(y)), values(prof.run(feed, {y}).at(y))) << platform;
  }
}

}  // namespace
}  // namespace dpl::test
