// The unary math kernels (src/runtime/ops/unary_math.cpp): Round half to even, integer
// Abs/Neg/Sign, and a float-only op refusing integers.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Round, HalfToEven) {
  OpTester t("Round");
  t.input<float>("X", {7}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f});
  t.output<float>("Y", {7}, {0, 2, 2, -0.f, -2, 2, -3});
  t.run();
}

TEST(Unary, IntegerAbsNegSign) {
  OpTester a("Abs");
  a.input<int8_t>("X", {3}, {-5, 0, 7});
  a.output<int8_t>("Y", {3}, {5, 0, 7});
  a.run();
  OpTester n("Neg");
  n.input<int64_t>("X", {2}, {-5, 9});
  n.output<int64_t>("Y", {2}, {5, -9});
  n.run();
  OpTester s("Sign");
  s.input<int32_t>("X", {3}, {-5, 0, 7});
  s.output<int32_t>("Y", {3}, {-1, 0, 1});
  s.run();
  OpTester bad("Sqrt");
  bad.input<int32_t>("X", {1}, {4});
  bad.output<int32_t>("Y", {1}, {2});
  EXPECT_THROW(bad.run_outputs(), Error);
}

}  // namespace
}  // namespace dpl::test
