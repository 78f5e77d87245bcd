// Concat (src/runtime/ops/concat.cpp) along a middle axis with inputs of mixed sizes.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Concat, MiddleAxisMixedSizes) {
  OpTester t("Concat");
  t.attr("axis", int64_t{-2});
  t.input<int64_t>("A", {2, 1, 2}, {1, 2, 3, 4}).input<int64_t>("B", {2, 2, 2}, {5, 6, 7, 8, 9, 10, 11, 12});
  t.input<int64_t>("C", {2, 0, 2}, {});
  t.output<int64_t>("Y", {2, 3, 2}, {1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12});
  t.run();
}

}  // namespace
}  // namespace dpl::test
