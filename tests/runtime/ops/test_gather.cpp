// Gather (src/runtime/ops/gather.cpp): negative indices and out-of-range refusal.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Gather, NegativeIndices) {
  OpTester t("Gather");
  t.attr("axis", int64_t{0});
  t.input<float>("X", {3, 2}, {1, 2, 3, 4, 5, 6}).input<int64_t>("I", {2}, {-1, 0}, true);
  t.output<float>("Y", {2, 2}, {5, 6, 1, 2});
  t.run();
  // axis 1 with [1, 1] int32 indices holding -1: the last column, shape [3, 1, 1].
  OpTester u("Gather");
  u.attr("axis", int64_t{-1});
  u.input<float>("X", {3, 2}, {1, 2, 3, 4, 5, 6}).input<int32_t>("I", {1, 1}, {-1}, true);
  u.output<float>("Y", {3, 1, 1}, {2, 4, 6});
  u.run();
  // Scalar index (Shape -> Gather): a scalar out.
  OpTester s("Gather");
  s.input<int64_t>("X", {3}, {10, 20, 30}).input<int64_t>("I", {}, {-2}, true);
  s.output<int64_t>("Y", {}, {20});
  s.run();
}

TEST(Gather, RefusesOutOfRange) {
  OpTester t("Gather");
  t.input<float>("X", {2}, {1, 2}).input<int64_t>("I", {1}, {2}, true).output<float>("Y", {1}, {0});
  EXPECT_THROW(t.run_outputs(), Error);
}

}  // namespace
}  // namespace dpl::test
