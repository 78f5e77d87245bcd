// Backward of BatchNormalization (inference form), Softmax/LogSoftmax and dpl.FakeQuantize
// (runtime/ops/norm_grad.cpp). Fake quantization is a step function, so central differences
// hold only where it clamps (dy/ds = q_max - zp exactly); inside the range the
// straight-through and LSQ values are checked by hand.
#include <gtest/gtest.h>

#include "grad_test_util.h"

namespace dpl::test {
namespace {

TEST(BatchNormGrad, EveryInput) {
  OpTester t("BatchNormalization");
  t.attr("epsilon", 1e-3f);
  t.input<float>("X", {2, 3, 2, 2}, grad_values(24, 1));
  t.input<float>("scale", {3}, grad_values(3, 2, 0.5f, 1.5f));
  t.input<float>("B", {3}, grad_values(3, 3));
  t.input<float>("mean", {3}, grad_values(3, 4));
  t.input<float>("var", {3}, grad_values(3, 5, 0.5f, 2.f));
  t.output("Y");
  t.check_gradient();
}

TEST(SoftmaxGrad, AxesAndLegacyFlattening) {
  for (int64_t axis : {1, -1, 0}) {
    SCOPED_TRACE(axis);
    for (const char* op : {"Softmax", "LogSoftmax"}) {
      OpTester t(op);
      t.attr("axis", axis);
      t.input<float>("X", {2, 3, 4}, grad_values(24, 1, -2, 2));
      t.output("Y");
      t.check_gradient();
    }
  }
  OpTester legacy("Softmax", 11);  // flattened to 2-D at axis 1
  legacy.attr("axis", int64_t{1});
  legacy.input<float>("X", {2, 3, 4}, grad_values(24, 1, -2, 2));
  legacy.output("Y");
  legacy.check_gradient();
}

TEST(FakeQuantizeGrad, ScaleGradientWhereClampedMatchesCentralDifferences) {
  OpTester t("dpl.FakeQuantize");
  // int8, zp 3, scale 0.01: x >= 1.24 clamps to 127, x <= -1.31 to -128.
  t.input<float>("X", {6}, {2.f, 3.5f, -2.f, -4.f, 1.9f, -1.6f});
  t.input<float>("scale", {}, {0.01f});
  t.input<int8_t>("zp", {}, {3});
  t.output("Y");
  GradientCheck wrt_scale;
  wrt_scale.step = 1e-4;  // the clamp points move with the scale: stay clear of them
  wrt_scale.wrt = {"scale", "X"};
  t.check_gradient(wrt_scale);
}

TEST(FakeQuantizeGrad, SubEightBitBoundsClampAndGiveTheLsqGradient) {
  // A 4-bit symmetric grid: codes -7..7 (qmin / qmax attributes), zp 0, scale 0.1: x beyond
  // +-0.7 clamps there, as the QDQ model's Clip before QuantizeLinear does.
  OpTester fwd("dpl.FakeQuantize");
  fwd.attr("qmin", int64_t{-7}).attr("qmax", int64_t{7});
  fwd.input<float>("X", {5}, {0.31f, -0.9f, 2.f, 0.06f, -0.74f});
  fwd.input<float>("scale", {}, {0.1f});
  fwd.input<int8_t>("zp", {}, {0});
  fwd.output<float>("Y", {5}, {0.3f, -0.7f, 0.7f, 0.1f, -0.7f});
  fwd.run();
  OpTester t("dpl.FakeQuantize");
  t.attr("qmin", int64_t{-7}).attr("qmax", int64_t{7});
  t.input<float>("X", {4}, {0.9f, -1.5f, 3.f, -0.8f});  // all clamped: dy/ds = +-7
  t.input<float>("scale", {}, {0.1f});
  t.input<int8_t>("zp", {}, {0});
  t.output("Y");
  GradientCheck c;
  c.step = 1e-4;
  c.wrt = {"scale", "X"};
  t.check_gradient(c);
}

TEST(FakeQuantizeGrad, StraightThroughAndLsqByHand) {
  auto op = OpRegistry::instance().create("dpl.FakeQuantize");
  NodeDesc d;
  d.op_type = "dpl.FakeQuantize";
  d.name = "fq";
  op->init(d);
  // uint8, zp 10, scale 0.5: representable x in [-5, 122.5].
  Tensor x = Tensor::from_vector<float>({4}, {0.3f, -7.f, 200.f, 1.1f});
  Tensor s = Tensor::scalar<float>(0.5f);
  Tensor zp = Tensor::scalar<uint8_t>(10);
  std::vector<Tensor> y(1);
  OpContext ctx;
  op->forward(ctx, {&x, &s, &zp}, y);
  Tensor dy = Tensor::from_vector<float>({4}, {1.f, 2.f, 3.f, 4.f});
  std::vector<Tensor> g(3);
  GradArgs a;
  a.inputs = {&x, &s, &zp};
  a.outputs = {&y[0]};
  a.grad_outputs = {&dy};
  a.wants = {true, true, false};
  a.grad_inputs = g;
  op->backward(ctx, a);
  EXPECT_EQ(g[0].to_f32_vector(), (std::vector<float>{1.f, 0.f, 0.f, 4.f}));
  EXPECT_FALSE(g[2].defined());
  // x/s = 0.6 -> round 1: 1 - 0.6; -14 -> clamps low: 0 - 10; 400 -> high: 255 - 10;
  // 2.2 -> 2: 2 - 2.2.
  const double want = 1 * (1 - 0.6) + 2 * (0 - 10.0) + 3 * (255 - 10.0) + 4 * (2 - 2.2);
  EXPECT_NEAR(g[1].to_f32_vector()[0], want, 1e-4);
}

TEST(FakeQuantizeGrad, InPlaceHasNoBackward) {
  for (int64_t inplace : {0, 1}) {
    auto op = OpRegistry::instance().create("dpl.FakeQuantize");
    NodeDesc d;
    d.op_type = "dpl.FakeQuantize";
    AttrValue v;
    v.kind = AttrValue::Kind::Int;
    v.i = inplace;
    d.attrs.set("inplace", v);
    op->init(d);
    EXPECT_EQ(op->has_backward(), inplace == 0);  // y overwrote x: nothing to differentiate from
  }
}

}  // namespace
}  // namespace dpl::test

namespace dpl::test {
namespace {

// ReduceMean / ReduceSum and Pow: the pieces of a LayerNorm written out (ReduceMean, Sub,
// Pow, Sqrt, Div), as PP-OCRv4 and the ViT's final norm have it.
TEST(ReduceGrad, MeanAndSumOverAxesWithAndWithoutKeepdims) {
  for (const char* op : {"ReduceMean", "ReduceSum"}) {
    for (int64_t keep : {0, 1}) {
      SCOPED_TRACE(std::string(op) + " keepdims " + std::to_string(keep));
      OpTester t(op);
      t.attr("axes", std::vector<int64_t>{1, -1}).attr("keepdims", keep);
      t.input<float>("X", {2, 3, 4}, grad_values(24, 3));
      t.output("Y");
      t.check_gradient();
    }
  }
  OpTester all("ReduceMean");  // no axes: everything
  all.input<float>("X", {2, 3}, grad_values(6, 4));
  all.output("Y");
  all.check_gradient();
  OpTester in18("ReduceSum", 18);  // axes as an input
  in18.input<float>("X", {2, 3, 2}, grad_values(12, 5));
  in18.input<int64_t>("axes", {1}, {2}, true);
  in18.output("Y");
  in18.check_gradient();
}

TEST(PowGrad, BaseAndExponentWithBroadcast) {
  OpTester square("Pow");
  square.input<float>("X", {2, 3}, grad_values(6, 6));
  square.input<float>("E", {}, {2.f}, true);
  square.output("Y");
  GradientCheck base_only;  // negative bases: the exponent's derivative is not defined there
  base_only.wrt = {"X"};
  square.check_gradient(base_only);
  OpTester both("Pow");
  both.input<float>("X", {2, 3}, grad_values(6, 7, 0.5f, 2.f));  // positive bases: ln(a) defined
  both.input<float>("E", {3}, grad_values(3, 8, -1.5f, 2.5f));
  both.output("Y");
  both.check_gradient();
}

}  // namespace
}  // namespace dpl::test
