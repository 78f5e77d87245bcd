// The activation kernels (src/runtime/ops/activation.cpp) with values worked out by hand.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(HardSwish, Values) {
  // x * clamp(x/6 + 1/2, 0, 1)
  OpTester t("HardSwish", 14);
  t.input<float>("X", {5}, {-4, -3, 0, 1.5f, 3});
  t.output<float>("Y", {5}, {0, 0, 0, 1.5f * 0.75f, 3});
  t.run();
  OpTester h("HardSigmoid");
  h.attr("alpha", 0.25f).attr("beta", 0.5f);
  h.input<float>("X", {4}, {-3, 0, 1, 4});
  h.output<float>("Y", {4}, {0, 0.5f, 0.75f, 1});
  h.run();
}

}  // namespace
}  // namespace dpl::test
