// Split (src/runtime/ops/split.cpp): the split input, the attribute and the equal forms.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

TEST(Split, InputAttributeAndEqualForms) {
  OpTester t("Split", 13);
  t.attr("axis", int64_t{1});
  t.input<float>("X", {2, 3}, iota_f(6)).input<int64_t>("split", {2}, {1, 2}, true);
  t.output<float>("A", {2, 1}, {0, 3}).output<float>("B", {2, 2}, {1, 2, 4, 5});
  t.run();
  OpTester a("Split", 11);
  a.attr("split", std::vector<int64_t>{2, 1});
  a.input<bool>("X", {3}, {true, false, true});
  a.output<bool>("A", {2}, {true, false}).output<bool>("B", {1}, {true});
  a.run();
  OpTester e("Split", 13);
  e.input<float>("X", {4}, iota_f(4));
  e.output<float>("A", {2}, {0, 1}).output<float>("B", {2}, {2, 3});
  e.run();
}

}  // namespace
}  // namespace dpl::test
