// Shape and Size (src/runtime/ops/shape.cpp): start and end.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(ShapeOp, StartEndAndSize) {
  OpTester t("Shape", 15);
  t.attr("start", int64_t{1}).attr("end", int64_t{-1});
  t.input<float>("X", {2, 3, 4, 5}, std::vector<float>(120, 0.f)).output<int64_t>("Y", {2}, {3, 4});
  t.run();
  OpTester s("Size");
  s.input<float>("X", {2, 3}, std::vector<float>(6, 0.f)).output<int64_t>("Y", {}, {6});
  s.run();
}

}  // namespace
}  // namespace dpl::test
