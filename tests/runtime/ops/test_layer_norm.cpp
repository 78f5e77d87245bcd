// LayerNormalization (src/runtime/ops/layer_norm.cpp) with values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(LayerNormalization, HandSizedTensor) {
  // Rows [1,2,3] (mean 2, var 2/3) and [4,6,11] (mean 7, var 26/3), eps 1e-5.
  OpTester t("LayerNormalization", 17);
  t.attr("axis", int64_t{-1});
  t.input<float>("X", {2, 3}, {1, 2, 3, 4, 6, 11});
  t.input<float>("Scale", {3}, {1, 2, 0.5f});
  t.input<float>("B", {3}, {0, 1, -1});
  t.output<float>("Y", {2, 3}, {-1.2247357f, 1.f, -0.3876322f, -1.0190487f, 0.3206342f, -0.3206342f});
  t.output<float>("Mean", {2, 1}, {2, 7});
  t.output<float>("InvStdDev", {2, 1}, {1.2247357f, 0.3396829f});
  t.run();
}

TEST(LayerNormalization, AxisZeroNormalizesEverything) {
  // axis 0 on [2, 2]: one group of 4 values 1..4, mean 2.5, var 1.25; no bias input.
  OpTester t("LayerNormalization", 17);
  t.attr("axis", int64_t{0}).attr("epsilon", 0.f);
  t.input<float>("X", {2, 2}, {1, 2, 3, 4});
  t.input<float>("Scale", {2, 2}, {1, 1, 1, 1});
  t.output<float>("Y", {2, 2}, {-1.3416408f, -0.4472136f, 0.4472136f, 1.3416408f});
  t.run();
}

}  // namespace
}  // namespace dpl::test
