// Backward of the binary arithmetic ops with broadcasting (Add, Sub, Mul, Div), PRelu with
// its slope, Clip with its bounds, and SiLU written as x * Sigmoid(x), against central
// differences (runtime/ops/binary_grad.h, norm_grad.cpp).
#include <gtest/gtest.h>

#include "grad_test_util.h"
#include "runtime/parallel.h"

namespace dpl::test {
namespace {

TEST(BinaryGrad, BroadcastOperandsGetSummedGradients) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{1, 3, 1}, {2, 1, 4}}, {{2, 3, 4}, {}}};
  for (const char* op : {"Add", "Sub", "Mul", "Div"})
    for (const auto& [a, b] : shapes) {
      SCOPED_TRACE(std::string(op) + " " + shape_str(a) + " " + shape_str(b));
      OpTester t(op);
      t.input<float>("A", a, grad_values(shape_numel(a), 1));
      // Div: a divisor away from 0.
      t.input<float>("B", b, std::string(op) == "Div" ? grad_values(shape_numel(b), 2, 0.5f, 2.f)
                                                      : grad_values(shape_numel(b), 2));
      t.output("Y");
      t.check_gradient();
    }
}

TEST(VariadicGrad, SumAndMeanOfBroadcastInputs) {
  // ResNets that add residuals with Sum (ONNX model zoo ResNet-50) train as blocks.
  for (const char* op : {"Sum", "Mean"}) {
    SCOPED_TRACE(op);
    OpTester t(op);
    t.input<float>("A", {2, 3, 4}, grad_values(24, 1));
    t.input<float>("B", {3, 1}, grad_values(3, 2));
    t.input<float>("C", {4}, grad_values(4, 3));
    t.output("Y");
    t.check_gradient();
  }
}

TEST(BinaryGrad, SameTensorOnBothSides) {
  // x * x: each side's gradient is dy * x; a session adds them (test_session_backward.cpp).
  OpTester t("Mul");
  t.input<float>("A", {5}, grad_values(5, 1));
  t.input<float>("B", {5}, grad_values(5, 1));
  t.output("Y");
  t.check_gradient();
}

// Above the element-wise grain the broadcast gradient is summed in per-thread partials:
// with 1 and 2 threads it must equal a sum in double.
TEST(BinaryGrad, LargeBroadcastReductionWithThreads) {
  const Shape a_shape{64, 33, 40}, b_shape{33, 1};
  Tensor a = Tensor::from_vector<float>(a_shape, grad_values(shape_numel(a_shape), 1));
  Tensor b = Tensor::from_vector<float>(b_shape, grad_values(33, 2));
  Tensor dy = Tensor::from_vector<float>(a_shape, grad_values(shape_numel(a_shape), 3));
  std::vector<double> want(33, 0.0);
  for (int64_t i = 0; i < dy.numel(); ++i) want[(i / 40) % 33] += dy.data<float>()[i] * a.data<float>()[i];
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    set_num_threads(threads);
    auto op = OpRegistry::instance().create("Mul");
    std::vector<Tensor> g(2);
    GradArgs args;
    args.inputs = {&a, &b};
    args.outputs = {&dy};  // Mul's backward does not read its output
    args.grad_outputs = {&dy};
    args.wants = {false, true};
    args.grad_inputs = g;
    OpContext ctx;
    op->backward(ctx, args);
    ASSERT_EQ(g[1].shape(), b_shape);
    for (int c = 0; c < 33; ++c) EXPECT_NEAR(g[1].data<float>()[c], want[c], 1e-3 * (1 + std::fabs(want[c]))) << c;
  }
  set_num_threads(1);
}

TEST(PReluGrad, InputAndPerChannelSlope) {
  OpTester t("PRelu");
  t.input<float>("X", {2, 3, 2, 2}, grad_values(24, 1, -1, 1, {0}));
  t.input<float>("slope", {3, 1, 1}, grad_values(3, 2, 0.05f, 0.5f), true);
  t.output("Y");
  t.check_gradient();
}

TEST(ClipGrad, InsideThroughOutsideToTheBounds) {
  OpTester t("Clip");
  t.input<float>("X", {3, 4}, grad_values(12, 1, -1.5f, 1.5f, {-0.5f, 0.8f}));
  t.input<float>("min", {}, {-0.5f});
  t.input<float>("max", {}, {0.8f});
  t.output("Y");
  t.check_gradient();
  OpTester relu6("Clip", 6);  // attribute form
  relu6.attr("min", 0.f).attr("max", 6.f);
  relu6.input<float>("X", {8}, grad_values(8, 3, -2, 8, {0.f, 6.f}));
  relu6.output("Y");
  relu6.check_gradient();
}

TEST(ClipGrad, HandComputedValues) {
  auto op = OpRegistry::instance().create("Clip");
  NodeDesc d;
  d.op_type = "Clip";
  d.opset = 13;
  op->init(d);
  Tensor x = Tensor::from_vector<float>({4}, {-2.f, 0.f, 0.5f, 3.f});
  Tensor lo = Tensor::scalar<float>(-1.f), hi = Tensor::scalar<float>(1.f);
  Tensor y = Tensor::from_vector<float>({4}, {-1.f, 0.f, 0.5f, 1.f});
  Tensor dy = Tensor::from_vector<float>({4}, {1.f, 2.f, 3.f, 4.f});
  std::vector<Tensor> g(3);
  GradArgs a;
  a.inputs = {&x, &lo, &hi};
  a.outputs = {&y};
  a.grad_outputs = {&dy};
  a.wants = {true, true, true};
  a.grad_inputs = g;
  OpContext ctx;
  op->backward(ctx, a);
  EXPECT_EQ(g[0].to_f32_vector(), (std::vector<float>{0.f, 2.f, 3.f, 0.f}));
  EXPECT_EQ(g[1].to_f32_vector(), (std::vector<float>{1.f}));
  EXPECT_EQ(g[2].to_f32_vector(), (std::vector<float>{4.f}));
}

}  // namespace
}  // namespace dpl::test
