// Where (src/runtime/ops/where.cpp): three-way broadcasting.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Where, ThreeWayBroadcast) {
  // cond [2,1], X [1,3], Y scalar -> [2,3]
  OpTester t("Where");
  t.input<bool>("C", {2, 1}, {true, false});
  t.input<float>("X", {1, 3}, {1, 2, 3});
  t.input<float>("Y", {}, {-1});
  t.output<float>("Z", {2, 3}, {1, 2, 3, -1, -1, -1});
  t.run();
  // cond [3], X [2,1], Y [2,3]
  OpTester u("Where");
  u.input<bool>("C", {3}, {true, false, true});
  u.input<int64_t>("X", {2, 1}, {7, 8});
  u.input<int64_t>("Y", {2, 3}, {1, 2, 3, 4, 5, 6});
  u.output<int64_t>("Z", {2, 3}, {7, 2, 7, 8, 5, 8});
  u.run();
}

}  // namespace
}  // namespace dpl::test
