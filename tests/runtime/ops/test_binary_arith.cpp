// Add, Sub, Mul, Div, Mod and Pow (src/runtime/ops/binary_arith.cpp): broadcasting patterns,
// integer division and modulo details, mixed-type Pow, worked out by hand.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Add, ScalarOperandEitherSide) {
  OpTester t("Add");
  t.input<float>("A", {2, 3}, {1, 2, 3, 4, 5, 6});
  t.input<float>("B", {}, {10});
  t.output<float>("C", {2, 3}, {11, 12, 13, 14, 15, 16});
  t.run();
  OpTester u("Sub");
  u.input<float>("A", {}, {10});
  u.input<float>("B", {2, 3}, {1, 2, 3, 4, 5, 6});
  u.output<float>("C", {2, 3}, {9, 8, 7, 6, 5, 4});
  u.run();
}

TEST(Mul, PerChannel) {
  // [1,2,2,2] * [2,1,1]: channel 0 times 2, channel 1 times -1; and [1,2,1,1] (SE block).
  for (Shape cs : {Shape{2, 1, 1}, Shape{1, 2, 1, 1}}) {
    OpTester t("Mul");
    t.input<float>("A", {1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    t.input<float>("B", cs, {2, -1}, /*constant=*/true);
    t.output<float>("C", {1, 2, 2, 2}, {2, 4, 6, 8, -5, -6, -7, -8});
    t.run();
  }
}

TEST(Div, RowBroadcastAndScalar) {
  OpTester t("Div");
  t.input<float>("A", {2, 3}, {2, 4, 6, 8, 10, 12});
  t.input<float>("B", {3}, {2, 4, 8});
  t.output<float>("C", {2, 3}, {1, 1, 0.75f, 4, 2.5f, 1.5f});
  t.run();
  OpTester s("Div");
  s.input<float>("A", {4}, {1, -3, 5, 0});
  s.input<float>("B", {1}, {4});
  s.output<float>("C", {4}, {0.25f, -0.75f, 1.25f, 0});
  s.run();
}

TEST(Add, BothSidesWiden) {
  // [2,1] + [1,3] -> [2,3]
  OpTester t("Add");
  t.input<int32_t>("A", {2, 1}, {10, 20});
  t.input<int32_t>("B", {1, 3}, {1, 2, 3});
  t.output<int32_t>("C", {2, 3}, {11, 12, 13, 21, 22, 23});
  t.run();
}

TEST(Add, IncompatibleShapesAreAnError) {
  OpTester t("Add");
  t.input<float>("A", {2, 3}, {1, 2, 3, 4, 5, 6});
  t.input<float>("B", {2}, {1, 2});
  t.output<float>("C", {2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_THROW(t.run_outputs(), Error);
}

TEST(Mod, IntegerSignFollowsDivisorUnlessFmod) {
  OpTester t("Mod");
  t.input<int32_t>("A", {5}, {-4, 7, 5, 4, -7});
  t.input<int32_t>("B", {5}, {3, -3, 8, -2, 3});
  t.output<int32_t>("C", {5}, {2, -2, 5, 0, 2});
  t.run();
  OpTester f("Mod");
  f.attr("fmod", int64_t{1});
  f.input<int32_t>("A", {5}, {-4, 7, 5, 4, -7});
  f.input<int32_t>("B", {5}, {3, -3, 8, -2, 3});
  f.output<int32_t>("C", {5}, {-1, 1, 5, 0, -1});
  f.run();
}

TEST(Div, IntegerByZeroIsAnError) {
  OpTester t("Div");
  t.input<int32_t>("A", {2}, {1, 2});
  t.input<int32_t>("B", {2}, {1, 0});
  t.output<int32_t>("C", {2}, {0, 0});
  EXPECT_THROW(t.run_outputs(), Error);
}

TEST(Pow, ScalarSquareAndMixedTypes) {
  OpTester t("Pow");
  t.input<float>("X", {3}, {-3, 0.5f, 4});
  t.input<float>("Y", {}, {2});
  t.output<float>("Z", {3}, {9, 0.25f, 16});
  t.run();
  OpTester m("Pow", 15);
  m.input<int32_t>("X", {3}, {2, 3, 9});
  m.input<float>("Y", {3}, {3, -1, 0.5f});
  m.output<int32_t>("Z", {3}, {8, 0, 3});
  m.run();
}

}  // namespace
}  // namespace dpl::test
