// InstanceNormalization (src/runtime/ops/instance_norm.cpp) with values worked out by hand.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(InstanceNormalization, ValuesByHand) {
  // mean 2.5, variance 1.25; scale 2, bias 1.
  OpTester t("InstanceNormalization", 6);
  t.attr("epsilon", 0.f);
  t.input<float>("X", {1, 1, 1, 4}, {1, 2, 3, 4});
  t.input<float>("scale", {1}, {2});
  t.input<float>("B", {1}, {1});
  t.output<float>("Y", {1, 1, 1, 4}, {-1.6832816f, 0.1055728f, 1.8944272f, 3.6832816f});
  t.run();
}

}  // namespace
}  // namespace dpl::test
