// Max, Min, Sum and Mean (src/runtime/ops/variadic.cpp): several inputs, broadcasting, NaN.
#include <gtest/gtest.h>

#include <limits>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Max, ThreeInputsBroadcastAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  OpTester t("Max");
  t.input<float>("A", {2, 2}, {1, 5, nan, 0});
  t.input<float>("B", {2}, {3, 2});
  t.input<float>("C", {}, {4});
  t.output<float>("Y", {2, 2}, {4, 5, nan, 4});
  t.run();
  OpTester m("Mean");
  m.input<float>("A", {2}, {1, 2});
  m.input<float>("B", {2, 1}, {3, 6});
  m.input<float>("C", {}, {0});
  m.output<float>("Y", {2, 2}, {4.f / 3, 5.f / 3, 7.f / 3, 8.f / 3});
  m.run();
  OpTester s("Sum");
  s.input<int32_t>("A", {3}, {1, 2, 3});
  s.output<int32_t>("Y", {3}, {1, 2, 3});
  s.run();
}

}  // namespace
}  // namespace dpl::test
