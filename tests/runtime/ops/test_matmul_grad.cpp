// Backward of Gemm and MatMul (runtime/ops/matmul_grad.cpp) against central differences:
// transA/transB, alpha/beta, C broadcast from a row, a column and a scalar; MatMul with a
// constant B, 1-D operands, and batch dims broadcast either way.
#include <gtest/gtest.h>

#include "grad_test_util.h"

namespace dpl::test {
namespace {

TEST(GemmGrad, TransposesAlphaBetaAndBroadcastC) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Shape& c_shape : {Shape{3, 4}, Shape{4}, Shape{3, 1}, Shape{1}}) {
        SCOPED_TRACE(::testing::Message() << "transA " << ta << " transB " << tb << " C " << shape_str(c_shape));
        OpTester t("Gemm");
        t.attr("transA", int64_t{ta}).attr("transB", int64_t{tb}).attr("alpha", 0.7f).attr("beta", 1.3f);
        t.input<float>("A", ta ? Shape{5, 3} : Shape{3, 5}, grad_values(15, 1));
        t.input<float>("B", tb ? Shape{4, 5} : Shape{5, 4}, grad_values(20, 2));
        t.input<float>("C", c_shape, grad_values(shape_numel(c_shape), 3));
        t.output("Y");
        t.check_gradient();
      }
}

TEST(GemmGrad, ConstantWeightsAsInALinearLayer) {
  OpTester t("Gemm");
  t.attr("transB", int64_t{1});
  t.input<float>("A", {4, 6}, grad_values(24, 1));
  t.input<float>("B", {3, 6}, grad_values(18, 2), true);
  t.input<float>("C", {3}, grad_values(3, 3), true);
  t.output("Y");
  t.check_gradient();
}

TEST(MatMulGrad, ShapesAndBroadcasting) {
  struct Case {
    Shape a, b;
    bool b_const;
  };
  const std::vector<Case> cases = {
      {{3, 4}, {4, 5}, false},
      {{2, 3, 4}, {4, 5}, true},        // constant weight, batch folded into M
      {{2, 3, 4}, {2, 4, 5}, false},    // activation x activation
      {{2, 1, 3, 4}, {3, 4, 2}, false}, // batch broadcast both ways
      {{1, 3, 4}, {2, 4, 5}, false},    // A broadcast over B's batch
      {{4}, {2, 4, 3}, false},          // 1-D A
      {{2, 3, 4}, {4}, false},          // 1-D B
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(shape_str(c.a) + " x " + shape_str(c.b));
    OpTester t("MatMul");
    t.input<float>("A", c.a, grad_values(shape_numel(c.a), 1));
    t.input<float>("B", c.b, grad_values(shape_numel(c.b), 2), c.b_const);
    t.output("Y");
    t.check_gradient();
  }
}

}  // namespace
}  // namespace dpl::test
