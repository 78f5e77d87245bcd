// Transpose (src/runtime/ops/transpose.cpp): NCHW to NHWC, the default reversal, and unit
// axes moved without a copy.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

TEST(Transpose, NchwToNhwc) {
  // x[n,c,h,w] = c*6 + h*3 + w with C=2, H=2, W=3; y[n,h,w,c] = x[n,c,h,w].
  OpTester t("Transpose");
  t.attr("perm", std::vector<int64_t>{0, 2, 3, 1});
  t.input<float>("X", {1, 2, 2, 3}, iota_f(12));
  t.output<float>("Y", {1, 2, 3, 2}, {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11});
  t.run();
  // And back.
  OpTester b("Transpose");
  b.attr("perm", std::vector<int64_t>{0, 3, 1, 2});
  b.input<float>("X", {1, 2, 3, 2}, {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11});
  b.output<float>("Y", {1, 2, 2, 3}, iota_f(12));
  b.run();
}

TEST(Transpose, DefaultReversesAndUnitMovesShare) {
  OpTester t("Transpose");
  t.input<int16_t>("X", {2, 3}, {1, 2, 3, 4, 5, 6}).output<int16_t>("Y", {3, 2}, {1, 4, 2, 5, 3, 6});
  t.run();
  Tensor x = Tensor::from_vector<float>({1, 3, 1, 2}, iota_f(6));
  Tensor y = ops::transpose_tensor(x, {2, 1, 3, 0});
  EXPECT_EQ(y.shape(), (Shape{1, 3, 2, 1}));
  EXPECT_TRUE(y.shares_buffer_with(x));
}

}  // namespace
}  // namespace dpl::test
