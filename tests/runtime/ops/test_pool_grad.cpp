// Backward of MaxPool, AveragePool and GlobalAveragePool (runtime/ops/pool_grad.cpp)
// against central differences: overlapping windows, strides, pads, ceil_mode,
// count_include_pad, dilation, 1-D. MaxPool inputs are distinct by more than the checker's
// step, so no window has a tie within a difference.
#include <gtest/gtest.h>

#include "grad_test_util.h"

namespace dpl::test {
namespace {

void check_pool(const std::string& op, const Shape& x, const std::function<void(OpTester&)>& attrs) {
  OpTester t(op);
  attrs(t);
  t.input<float>("X", x, spaced_values(shape_numel(x), 5));
  t.output("Y");
  t.check_gradient();
}

TEST(PoolGrad, MaxPool) {
  using V = std::vector<int64_t>;
  check_pool("MaxPool", {2, 2, 5, 5}, [](OpTester& t) { t.attr("kernel_shape", V{3, 3}); });
  check_pool("MaxPool", {1, 2, 6, 7}, [](OpTester& t) {
    t.attr("kernel_shape", V{3, 3}).attr("strides", V{2, 2}).attr("pads", V{1, 1, 1, 0}).attr("ceil_mode", int64_t{1});
  });
  check_pool("MaxPool", {1, 1, 7, 7}, [](OpTester& t) { t.attr("kernel_shape", V{2, 2}).attr("dilations", V{2, 2}); });
  check_pool("MaxPool", {2, 3, 8}, [](OpTester& t) { t.attr("kernel_shape", V{3}).attr("strides", V{2}); });
  // YOLOX's SPP: 5x5, stride 1, same padding.
  check_pool("MaxPool", {1, 2, 6, 6}, [](OpTester& t) { t.attr("kernel_shape", V{5, 5}).attr("pads", V{2, 2, 2, 2}); });
}

TEST(PoolGrad, AveragePool) {
  using V = std::vector<int64_t>;
  for (int64_t include_pad : {0, 1})
    for (int64_t ceil : {0, 1}) {
      SCOPED_TRACE(::testing::Message() << "count_include_pad " << include_pad << " ceil_mode " << ceil);
      check_pool("AveragePool", {1, 2, 6, 7}, [&](OpTester& t) {
        t.attr("kernel_shape", V{3, 3}).attr("strides", V{2, 2}).attr("pads", V{1, 0, 1, 1});
        t.attr("count_include_pad", include_pad).attr("ceil_mode", ceil);
      });
    }
  check_pool("AveragePool", {2, 2, 9}, [](OpTester& t) { t.attr("kernel_shape", V{4}).attr("strides", V{3}); });
}

TEST(PoolGrad, GlobalAveragePool) {
  check_pool("GlobalAveragePool", {2, 3, 4, 5}, [](OpTester&) {});
}

TEST(PoolGrad, GlobalMaxPool) {
  check_pool("GlobalMaxPool", {2, 3, 4, 5}, [](OpTester&) {});
  check_pool("GlobalMaxPool", {1, 4, 7}, [](OpTester&) {});
}

// A tie: the whole gradient goes to the first maximum, as MaxPool's does (hand-computed).
TEST(PoolGrad, GlobalMaxPoolTieGoesToTheFirstMaximum) {
  auto op = OpRegistry::instance().create("GlobalMaxPool");
  Tensor x = Tensor::from_vector<float>({1, 2, 2, 2}, {1.f, 3.f, 3.f, 0.f, -2.f, -1.f, -5.f, -1.f});
  Tensor y = Tensor::from_vector<float>({1, 2, 1, 1}, {3.f, -1.f});
  Tensor dy = Tensor::from_vector<float>({1, 2, 1, 1}, {0.5f, 2.f});
  std::vector<Tensor> grads(1);
  GradArgs args;
  args.inputs = {&x};
  args.outputs = {&y};
  args.grad_outputs = {&dy};
  args.wants = {true};
  args.grad_inputs = grads;
  OpContext ctx;
  op->backward(ctx, args);
  EXPECT_EQ(grads[0].to_f32_vector(), (std::vector<float>{0.f, 0.5f, 0.f, 0.f, 0.f, 2.f, 0.f, 0.f}));
}

}  // namespace
}  // namespace dpl::test
