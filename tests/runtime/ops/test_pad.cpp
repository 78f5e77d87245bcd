// Pad (src/runtime/ops/pad.cpp): reflect, edge, constant and negative (cropping) pads.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Pad, Reflect) {
  // [[1,2,3],[4,5,6]], pads: axis 1 two before and one after, axis 0 one after.
  OpTester t("Pad");
  t.attr("mode", std::string("reflect"));
  t.input<float>("X", {2, 3}, {1, 2, 3, 4, 5, 6}).input<int64_t>("pads", {4}, {0, 2, 1, 1}, true);
  t.output<float>("Y", {3, 6}, {3, 2, 1, 2, 3, 2,  //
                                6, 5, 4, 5, 6, 5,  //
                                3, 2, 1, 2, 3, 2});
  t.run();
}

TEST(Pad, EdgeConstantAndCrop) {
  OpTester e("Pad");
  e.attr("mode", std::string("edge"));
  e.input<int32_t>("X", {1, 3}, {7, 8, 9}).input<int64_t>("pads", {4}, {1, 1, 0, 2}, true);
  e.output<int32_t>("Y", {2, 6}, {7, 7, 8, 9, 9, 9, 7, 7, 8, 9, 9, 9});
  e.run();

  // Constant 5 before axis 1, crop one column after; constant value as an input.
  OpTester c("Pad");
  c.input<int64_t>("X", {2, 3}, {1, 2, 3, 4, 5, 6})
      .input<int64_t>("pads", {4}, {0, 1, 0, -1}, true)
      .input<int64_t>("v", {}, {5}, true);
  c.output<int64_t>("Y", {2, 3}, {5, 1, 2, 5, 4, 5});
  c.run();

  // Opset 2: pads and value are attributes.
  OpTester a("Pad", 2);
  a.attr("pads", std::vector<int64_t>{1, 0}).attr("value", 1.5f);
  a.input<float>("X", {2}, {3, 4}).output<float>("Y", {3}, {1.5f, 3, 4});
  a.run();
}

}  // namespace
}  // namespace dpl::test
