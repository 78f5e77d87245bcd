// Backward passes against central differences (OpTester::check_gradient): every element-wise
// functor with a derivative, on values of both signs away from its kinks; which ops report a
// backward pass; and the checker itself, which must fail on a wrong backward so that it
// cannot pass silently.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "ops/grad_test_util.h"
#include "runtime/fusion.h"
#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

// n values in [lo, hi] from a fixed seed, each at least `margin` from every kink.
std::vector<float> values_between(int64_t n, float lo, float hi, const std::vector<float>& kinks = {},
                                  float margin = 0.1f) {
  return grad_values(n, 7, lo, hi, kinks, margin);
}

// An op checked on values in [lo, hi] away from its kinks, with the attributes `attrs` sets.
struct UnaryCase {
  UnaryCase(std::string op, float lo, float hi, std::vector<float> kinks = {},
            std::function<void(OpTester&)> attrs = [](OpTester&) {})
      : op(std::move(op)), lo(lo), hi(hi), kinks(std::move(kinks)), attrs(std::move(attrs)) {}
  std::string op;
  float lo, hi;
  std::vector<float> kinks;
  std::function<void(OpTester&)> attrs;
};

void check_unary(const UnaryCase& c) {
  SCOPED_TRACE(c.op);
  OpTester t(c.op);
  c.attrs(t);
  const Shape shape{2, 3, 4};
  const std::vector<float> x = values_between(shape_numel(shape), c.lo, c.hi, c.kinks);
  if (c.lo < 0 && c.hi > 0) {
    ASSERT_TRUE(std::any_of(x.begin(), x.end(), [](float v) { return v < 0; }));
    ASSERT_TRUE(std::any_of(x.begin(), x.end(), [](float v) { return v > 0; }));
  }
  t.input<float>("X", shape, x);
  t.output("Y");
  t.check_gradient();
}

TEST(GradientCheck, ActivationBackwardsMatchCentralDifferences) {
  const std::vector<UnaryCase> cases = {
      {"Relu", -3, 3, {0}},
      {"LeakyRelu", -3, 3, {0}, [](OpTester& t) { t.attr("alpha", 0.1f); }},
      {"Elu", -3, 3, {0}, [](OpTester& t) { t.attr("alpha", 0.7f); }},
      {"Selu", -3, 3, {0}},
      {"Celu", -3, 3, {0}, [](OpTester& t) { t.attr("alpha", 1.3f); }},
      {"Sigmoid", -5, 5},
      {"dpl.Silu", -5, 5},  // x * Sigmoid(x) as one op, for training sessions
      // Kinks where 0.3 x + 0.4 reaches 0 and 1.
      {"HardSigmoid", -4, 4, {-4.f / 3.f, 2.f}, [](OpTester& t) { t.attr("alpha", 0.3f).attr("beta", 0.4f); }},
      {"HardSwish", -5, 5, {-3, 3}},
      {"Tanh", -3, 3},
      {"Softplus", -4, 4},
      {"Softsign", -4, 4},
      {"ThresholdedRelu", -3, 3, {0.5f}, [](OpTester& t) { t.attr("alpha", 0.5f); }},
  };
  for (const auto& c : cases) check_unary(c);
}

TEST(GradientCheck, SiluOpComputesXTimesSigmoid) {
  // Values by hand: x * 1 / (1 + e^-x).
  OpTester t("dpl.Silu");
  t.input<float>("X", {4}, {-2.f, 0.f, 0.5f, 3.f});
  t.output<float>("Y", {4}, {-0.2384058f, 0.f, 0.3112297f, 2.8577224f});
  t.run();
}

TEST(GradientCheck, UnaryMathBackwardsMatchCentralDifferences) {
  const std::vector<UnaryCase> cases = {
      {"Exp", -3, 3},
      {"Neg", -3, 3},
      {"Abs", -3, 3, {0}},
      {"Sqrt", 0.2f, 4},  // defined for x > 0 only
      {"Log", 0.2f, 4},
      {"Erf", -3, 3},
      {"Sin", -3, 3},
      {"Cos", -3, 3},
  };
  for (const auto& c : cases) check_unary(c);
}

TEST(GradientCheck, ReciprocalAwayFromZero) {
  // 1/x curves sharply near 0: a wider margin than the other cases keep from their kinks.
  OpTester t("Reciprocal");
  t.input<float>("X", {3, 4}, values_between(12, -3, 3, {0}, 0.4f));
  t.output("Y");
  t.check_gradient();
}

TEST(GradientCheck, OpsReportABackwardExactlyWhenTheyHaveOne) {
  for (const char* op : {"Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
                         "Softplus", "Softsign", "ThresholdedRelu", "Exp", "Neg", "Abs", "Sqrt", "Log", "Reciprocal",
                         "Erf", "Sin", "Cos", "Conv", "ConvTranspose", "Gemm", "MatMul", "Clip", "PRelu", "Add",
                         "Sub", "Mul", "Div", "Concat", "Split", "Slice", "Reshape", "Flatten", "Transpose", "Squeeze",
                         "Unsqueeze", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Pad",
                         "BatchNormalization", "Softmax", "LogSoftmax", "dpl.FakeQuantize", "dpl.DropMix", "Pow",
                         "Gather", "Expand", "Tile", "ReduceMean", "ReduceSum", "Sum", "Mean"})
    EXPECT_TRUE(OpRegistry::instance().create(op)->has_backward()) << op;
  for (const char* op : {"Floor", "Ceil", "Round", "Sign", "Not", "Mod", "Hardmax", "Max", "Min",
                         "QuantizeLinear", "DequantizeLinear", "ReduceMax", "ReduceProd", "ReduceL2"})
    EXPECT_FALSE(OpRegistry::instance().create(op)->has_backward()) << op;
}

// Runs the backward of a one-input op with x standing for its input, output and dL/dy;
// returns dL/dx (undefined when not wanted).
Tensor unary_backward(const std::string& op_type, bool want) {
  auto op = OpRegistry::instance().create(op_type);
  Tensor x = Tensor::from_vector<float>({2}, {0.5f, -1.5f});
  std::vector<Tensor> grads(1);
  GradArgs args;
  args.inputs = {&x};
  args.outputs = {&x};
  args.grad_outputs = {&x};
  args.wants = {want};
  args.grad_inputs = grads;
  OpContext ctx;
  op->backward(ctx, args);
  return grads[0];
}

TEST(GradientCheck, OpWithoutBackwardFailsClearly) { EXPECT_THROW(unary_backward("Floor", true), Error); }

TEST(GradientCheck, UnwantedInputGetsNoGradient) {
  EXPECT_TRUE(unary_backward("Tanh", true).defined());
  EXPECT_FALSE(unary_backward("Tanh", false).defined());
}

TEST(GradientCheck, FusedSiluHasNoBackward) {
  auto op = OpRegistry::instance().create("Sigmoid");
  NodeDesc d;
  d.op_type = "Sigmoid";
  d.inputs = {"x"};
  d.outputs = {"y"};
  NodeDesc swish;
  swish.op_type = kSwishOp;
  d.absorbed.push_back(swish);
  op->init(d);
  EXPECT_FALSE(op->has_backward());
}

// ---- the checker itself ------------------------------------------------------------------

// y = a^3 * b with a backward whose dL/da is scaled by the attribute `a_factor` and dL/db by
// `b_factor` (1: correct), so the tests can break either input's gradient on purpose.
class TestCubeTimes : public Op {
 public:
  void init(const NodeDesc& n) override {
    fa_ = n.attrs.get_float("a_factor", 1.f);
    fb_ = n.attrs.get_float("b_factor", 1.f);
  }
  bool has_backward() const override { return true; }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    Tensor y(DType::F32, in[0]->shape());
    const float *a = in[0]->data<float>(), *b = in[1]->data<float>();
    for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = a[i] * a[i] * a[i] * b[i];
    out[0] = y;
  }
  void backward(OpContext&, const GradArgs& g) override {
    const float *a = g.inputs[0]->data<float>(), *b = g.inputs[1]->data<float>();
    const float* dy = g.grad_outputs[0]->data<float>();
    const int64_t n = g.inputs[0]->numel();
    if (g.wants[0]) {
      Tensor da(DType::F32, g.inputs[0]->shape());
      for (int64_t i = 0; i < n; ++i) da.data<float>()[i] = fa_ * 3.f * a[i] * a[i] * b[i] * dy[i];
      g.grad_inputs[0] = da;
    }
    if (g.wants[1]) {
      Tensor db(DType::F32, g.inputs[1]->shape());
      for (int64_t i = 0; i < n; ++i) db.data<float>()[i] = fb_ * a[i] * a[i] * a[i] * dy[i];
      g.grad_inputs[1] = db;
    }
  }

 private:
  float fa_ = 1.f, fb_ = 1.f;
};

DPL_REGISTER_OP("TestCubeTimes", TestCubeTimes);

OpTester cube_times(float a_factor, float b_factor, bool b_constant = false) {
  OpTester t("TestCubeTimes");
  t.attr("a_factor", a_factor).attr("b_factor", b_factor);
  t.input<float>("A", {2, 5}, values_between(10, -2, 2));
  t.input<float>("B", {2, 5}, values_between(10, -1, 1, {}, 0.f), b_constant);
  t.output("Y");
  return t;
}

TEST(GradientCheck, CheckerPassesACorrectBackward) {
  cube_times(1.f, 1.f).check_gradient();
  cube_times(1.f, 1.f, true).check_gradient();  // a constant input is differentiated too
}

TEST(GradientCheck, CheckerFailsAWrongBackward) {
  for (float factor : {2.f, 0.5f, 1.05f, -1.f}) {
    SCOPED_TRACE(factor);
    GradientCheckResult r = cube_times(factor, 1.f).gradient_check();
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.report.find("input 'A'"), std::string::npos) << r.report;
    EXPECT_EQ(r.report.find("input 'B'"), std::string::npos) << r.report;
  }
  OpTester t = cube_times(2.f, 1.f);
  EXPECT_NONFATAL_FAILURE(t.check_gradient(), "central difference");
}

TEST(GradientCheck, CheckerNamesTheInputWhoseGradientIsWrong) {
  GradientCheckResult r = cube_times(1.f, 1.5f).gradient_check();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("input 'B'"), std::string::npos) << r.report;
  EXPECT_EQ(r.report.find("input 'A'"), std::string::npos) << r.report;
  // Only the inputs asked for are checked.
  GradientCheck only_a;
  only_a.wrt = {"A"};
  EXPECT_TRUE(cube_times(1.f, 1.5f).gradient_check(only_a).ok);
}

TEST(GradientCheck, CheckerFailsWhenNothingIsDifferentiated) {
  GradientCheck none;
  none.wrt = {"no_such_input"};
  GradientCheckResult r = cube_times(1.f, 1.f).gradient_check(none);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("no float32 input"), std::string::npos) << r.report;
}

TEST(GradientCheck, CheckerFailsAnOpWithoutBackward) {
  OpTester t("Floor");
  t.input<float>("X", {3}, {-1.5f, 0.3f, 2.6f});
  t.output("Y");
  GradientCheckResult r = t.gradient_check();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("no backward"), std::string::npos) << r.report;
}

}  // namespace
}  // namespace dpl::test
