// QuantizeLinear and DequantizeLinear (src/runtime/ops/quantize_linear.cpp) with values
// computed by hand: per-axis scales, rounding half to even, saturation, default zero points.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(QuantizeLinear, PerAxisRoundHalfEvenAndSaturation) {
  // Column scales 1, 0.5, 2 and zero points 0, 10, -3 (axis 1).
  OpTester t("QuantizeLinear");
  t.attr("axis", int64_t{1});
  t.input<float>("x", {3, 3}, {0.5f, 0.25f, 5.f,  //  0.5->0 | 0.5->0 +10 | 2.5->2 -3
                               1.5f, -0.75f, -3.f,  // 1.5->2 | -1.5->-2 +10 | -1.5->-2 -3
                               -2.5f, 300.f, -1000.f});  // -2.5->-2 | 600+10 -> 127 | -500-3 -> -128
  t.input<float>("y_scale", {3}, {1.f, 0.5f, 2.f});
  t.input<int8_t>("y_zero_point", {3}, {0, 10, -3});
  t.output<int8_t>("y", {3, 3}, {0, 10, -1, 2, 8, -5, -2, 127, -128});
  t.run();
}

TEST(QuantizeLinear, Uint8AxisZeroAndDefaultZeroPoint) {
  {
    OpTester t("QuantizeLinear");
    t.attr("axis", int64_t{0});
    t.input<float>("x", {2, 2}, {0.25f, -0.75f, 3.5f, -1.f});  // 0.5->0, -1.5->-2 (+128); 3.5->4, -1 -> sat 0
    t.input<float>("y_scale", {2}, {0.5f, 1.f});
    t.input<uint8_t>("y_zero_point", {2}, {128, 0});
    t.output<uint8_t>("y", {2, 2}, {128, 126, 4, 0});
    t.run();
  }
  {
    OpTester t("QuantizeLinear");
    t.input<float>("x", {4}, {1.5f, 2.5f, -1.f, 254.5f});
    t.input<float>("y_scale", {}, {1.f});
    t.output<uint8_t>("y", {4}, {2, 2, 0, 254});
    t.run();
  }
  {
    // Negative axis.
    OpTester t("QuantizeLinear");
    t.attr("axis", int64_t{-1});
    t.input<float>("x", {1, 2}, {-6.5f, 6.5f});
    t.input<float>("y_scale", {2}, {1.f, 0.5f});
    t.input<int8_t>("y_zero_point", {2}, {0, 0});
    t.output<int8_t>("y", {1, 2}, {-6, 13});
    t.run();
  }
}

TEST(DequantizeLinear, PerAxisAndPerTensor) {
  {
    OpTester t("DequantizeLinear");
    t.input<int8_t>("x", {2, 3}, {-128, 0, 127, 5, -5, 10});
    t.input<float>("x_scale", {3}, {0.5f, 2.f, 0.25f});
    t.input<int8_t>("x_zero_point", {3}, {0, -2, 1});
    t.output<float>("y", {2, 3}, {-64.f, 4.f, 31.5f, 2.5f, -6.f, 2.25f});
    t.run();
  }
  {
    OpTester t("DequantizeLinear");
    t.input<uint8_t>("x", {3}, {0, 128, 255});
    t.input<float>("x_scale", {}, {0.5f});
    t.input<uint8_t>("x_zero_point", {}, {128});
    t.output<float>("y", {3}, {-64.f, 0.f, 63.5f});
    t.run();
  }
  {
    OpTester t("DequantizeLinear");
    t.input<int32_t>("x", {2}, {-1000, 7});
    t.input<float>("x_scale", {}, {0.5f});
    t.output<float>("y", {2}, {-500.f, 3.5f});
    t.run();
  }
}

}  // namespace
}  // namespace dpl::test
