// ArgMax and ArgMin (src/runtime/ops/argmax.cpp): select_last_index and keepdims.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(ArgMax, SelectLastIndexAndKeepdims) {
  const std::vector<float> x = {1, 3, 3, 2, 2, 1};
  {
    OpTester t("ArgMax", 13);
    t.attr("axis", int64_t{1}).attr("keepdims", int64_t{0});
    t.input<float>("X", {2, 3}, x);
    t.output<int64_t>("Y", {2}, {1, 0});
    t.run();
  }
  {
    OpTester t("ArgMax", 13);
    t.attr("axis", int64_t{-1}).attr("keepdims", int64_t{0}).attr("select_last_index", int64_t{1});
    t.input<float>("X", {2, 3}, x);
    t.output<int64_t>("Y", {2}, {2, 1});
    t.run();
  }
  {
    OpTester t("ArgMin", 13);
    t.attr("axis", int64_t{0});
    t.input<float>("X", {2, 3}, x);
    t.output<int64_t>("Y", {1, 3}, {0, 1, 1});
    t.run();
  }
}

}  // namespace
}  // namespace dpl::test
