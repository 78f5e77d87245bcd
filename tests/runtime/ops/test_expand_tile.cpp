// Expand and Tile (src/runtime/ops/expand_tile.cpp) with values worked out by hand.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(ExpandTile, Values) {
  OpTester e("Expand");
  e.input<float>("X", {3, 1}, {1, 2, 3}).input<int64_t>("S", {3}, {2, 1, 2}, true);
  e.output<float>("Y", {2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  e.run();
  OpTester t("Tile");
  t.input<int8_t>("X", {2, 2}, {1, 2, 3, 4}).input<int64_t>("R", {2}, {2, 3}, true);
  t.output<int8_t>("Y", {4, 6}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  t.run();
}

}  // namespace
}  // namespace dpl::test
