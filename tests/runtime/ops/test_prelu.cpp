// PRelu (src/runtime/ops/prelu.cpp) with a per-channel slope.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(PRelu, PerChannelSlope) {
  // x [1,2,2,2], slope [2,1,1] = {0.5, -2}: negatives of channel 0 halve, of channel 1 flip x2.
  OpTester t("PRelu");
  t.input<float>("X", {1, 2, 2, 2}, {-4, 2, -1, 0, -3, 3, 0.5f, -0.5f});
  t.input<float>("slope", {2, 1, 1}, {0.5f, -2}, /*constant=*/true);
  t.output<float>("Y", {1, 2, 2, 2}, {-2, 2, -0.5f, 0, 6, 3, 0.5f, 1});
  t.run();
}

}  // namespace
}  // namespace dpl::test
