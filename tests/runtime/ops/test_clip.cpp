// Clip (src/runtime/ops/clip.cpp): omitted bounds, integer types, inverted bounds and the
// opset-6 attribute form.
#include <gtest/gtest.h>

#include <limits>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Clip, OmittedMin) {
  OpTester t("Clip");
  t.input<float>("X", {5}, {-5, -1, 0, 2, 9});
  t.omitted_input();
  t.input<float>("max", {}, {1.5f});
  t.output<float>("Y", {5}, {-5, -1, 0, 1.5f, 1.5f});
  t.run();
}

TEST(Clip, BothBoundsInt8AndInverted) {
  OpTester t("Clip");
  t.input<int8_t>("X", {4}, {-128, -3, 4, 127});
  t.input<int8_t>("min", {}, {-2});
  t.input<int8_t>("max", {}, {3});
  t.output<int8_t>("Y", {4}, {-2, -2, 3, 3});
  t.run();
  // min > max: every value becomes max.
  OpTester u("Clip");
  u.input<float>("X", {3}, {-1, 0.5f, 7});
  u.input<float>("min", {}, {2});
  u.input<float>("max", {}, {1});
  u.output<float>("Y", {3}, {1, 1, 1});
  u.run();
}

TEST(Clip, Opset6Attributes) {
  OpTester t("Clip", 6);
  t.attr("min", -1.0f).attr("max", 6.0f);
  t.input<float>("X", {4}, {-3, 0.25f, 6.5f, 5});
  t.output<float>("Y", {4}, {-1, 0.25f, 6, 5});
  t.run();
  OpTester d("Clip", 6);  // no attributes: no clipping
  d.input<float>("X", {2}, {-1e30f, 1e30f});
  d.output<float>("Y", {2}, {-1e30f, 1e30f});
  d.run();
}

}  // namespace
}  // namespace dpl::test
