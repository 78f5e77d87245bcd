// Slice (src/runtime/ops/slice.cpp): negative steps, clamping and INT64 sentinels, and the
// pre-opset-10 attribute form.
#include <gtest/gtest.h>

#include <limits>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

TEST(Slice, NegativeSteps) {
  // x = [[0,1,2,3],[4,5,6,7],[8,9,10,11]]; columns from the last going back by 2: 3, 1.
  OpTester t("Slice");
  t.input<float>("X", {3, 4}, iota_f(12))
      .input<int64_t>("starts", {1}, {-1}, true)
      .input<int64_t>("ends", {1}, {kI64Min}, true)
      .input<int64_t>("axes", {1}, {1}, true)
      .input<int64_t>("steps", {1}, {-2}, true);
  t.output<float>("Y", {3, 2}, {3, 1, 7, 5, 11, 9});
  t.run();

  // 1-D, 8 down to (not including) 1 by 3: 8, 5, 2.
  OpTester u("Slice");
  u.input<int64_t>("X", {10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
      .input<int64_t>("starts", {1}, {8})
      .input<int64_t>("ends", {1}, {1})
      .input<int64_t>("axes", {1}, {0})
      .input<int64_t>("steps", {1}, {-3});
  u.output<int64_t>("Y", {3}, {8, 5, 2});
  u.run();

  // Reverse both axes of a 2x3 uint8.
  OpTester v("Slice");
  v.input<uint8_t>("X", {2, 3}, {1, 2, 3, 4, 5, 6})
      .input<int64_t>("starts", {2}, {kI64Max, kI64Max}, true)
      .input<int64_t>("ends", {2}, {kI64Min, kI64Min}, true)
      .input<int64_t>("axes", {2}, {0, -1}, true)
      .input<int64_t>("steps", {2}, {-1, -1}, true);
  v.output<uint8_t>("Y", {2, 3}, {6, 5, 4, 3, 2, 1});
  v.run();
}

TEST(Slice, ClampsAndSentinels) {
  // Rows 1.. to the end, columns -3..-1 of a 3x4, steps omitted.
  OpTester t("Slice");
  t.input<float>("X", {3, 4}, iota_f(12))
      .input<int64_t>("starts", {2}, {1, -3}, true)
      .input<int64_t>("ends", {2}, {kI64Max, -1}, true);
  t.output<float>("Y", {2, 2}, {5, 6, 9, 10});
  t.run();
  // Start past the end: empty.
  OpTester e("Slice");
  e.input<float>("X", {3}, {1, 2, 3}).input<int64_t>("starts", {1}, {5}, true).input<int64_t>("ends", {1}, {10}, true);
  e.output<float>("Y", {0}, {});
  e.run();
}

TEST(Slice, AttributeFormBeforeOpset10) {
  OpTester t("Slice", 9);
  t.attr("starts", std::vector<int64_t>{0, 1}).attr("ends", std::vector<int64_t>{2, 1000}).attr("axes", std::vector<int64_t>{1, 0});
  t.input<float>("X", {3, 4}, iota_f(12));
  t.output<float>("Y", {2, 2}, {4, 5, 8, 9});
  t.run();
}

}  // namespace
}  // namespace dpl::test
