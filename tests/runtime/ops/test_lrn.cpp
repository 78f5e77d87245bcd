// LRN (src/runtime/ops/lrn.cpp) with values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(LRN, ValuesByHand) {
  // alpha / size = 1, beta 1, bias 1: y = x / (1 + sum of squares over the window).
  OpTester t("LRN");
  t.attr("size", int64_t{3}).attr("alpha", 3.f).attr("beta", 1.f).attr("bias", 1.f);
  t.input<float>("X", {1, 3, 1, 1}, {1, 2, 3});
  t.output<float>("Y", {1, 3, 1, 1}, {1.f / 6, 2.f / 15, 3.f / 14});
  t.run();
}

}  // namespace
}  // namespace dpl::test
