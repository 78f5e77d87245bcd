// Cast and CastLike (src/runtime/ops/cast.cpp): truncation toward zero, integer, bool and
// double conversions, float16 rounding half to even.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/op_tester.h"
#include "runtime/ops/elementwise.h"

namespace dpl::test {
namespace {

TEST(Cast, FloatToInt8TruncatesTowardZero) {
  OpTester t("Cast");
  t.attr("to", int64_t{3});  // int8
  t.input<float>("X", {9}, {-2.7f, -0.5f, 0.5f, 1.5f, 2.5f, 2.99f, 127.9f, -128.9f, -0.0f});
  t.output<int8_t>("Y", {9}, {-2, 0, 0, 1, 2, 2, 127, -128, 0});
  t.run();
  // Out of range: through int32 then wrapped, as an x86 build of ONNX Runtime does.
  OpTester w("Cast");
  w.attr("to", int64_t{3});
  w.input<float>("X", {2}, {300.f, -200.f});
  w.output<int8_t>("Y", {2}, {44, 56});
  w.run();
}

TEST(Cast, IntBoolAndDouble) {
  OpTester t("Cast");
  t.attr("to", int64_t{9});  // bool
  t.input<float>("X", {4}, {0.f, -0.f, 0.1f, std::numeric_limits<float>::quiet_NaN()});
  t.output<bool>("Y", {4}, {false, false, true, true});
  t.run();
  OpTester u("Cast");
  u.attr("to", int64_t{2});  // uint8 from int32 wraps
  u.input<int32_t>("X", {3}, {-1, 256, 130});
  u.output<uint8_t>("Y", {3}, {255, 0, 130});
  u.run();
  OpTester d("Cast");
  d.attr("to", int64_t{7});  // int64 from double
  d.input<double>("X", {3}, {-3.99, 1e12 + 0.5, 42.0});
  d.output<int64_t>("Y", {3}, {-3, 1000000000000, 42});
  d.run();
}

TEST(Cast, Float16RoundsHalfToEven) {
  OpTester t("Cast");
  t.attr("to", int64_t{10});  // float16
  const float tie = 1.0f + std::ldexp(1.0f, -11);      // halfway between 1 and next half: even is 1
  const float tie_up = 1.0f + 3 * std::ldexp(1.0f, -11);  // halfway, even neighbour above
  t.input<float>("X", {8}, {1.0f, -2.0f, 65504.f, 65520.f, tie, tie_up, std::ldexp(1.0f, -24), std::ldexp(1.0f, -25)});
  t.output<float>("Y", {8}, {0, 0, 0, 0, 0, 0, 0, 0});  // compared by bits below
  Tensor y = t.run_outputs().at("Y");
  ASSERT_EQ(y.dtype(), DType::F16);
  const uint16_t* h = y.data<uint16_t>();
  const std::vector<uint16_t> want = {0x3C00, 0xC000, 0x7BFF, 0x7C00, 0x3C00, 0x3C02, 0x0001, 0x0000};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(h[i], want[i]) << "element " << i;
  for (uint16_t v : want) {  // and back exactly
    const uint16_t r = ew::f32_to_f16(ew::f16_to_f32(v));
    EXPECT_EQ(r, v);
  }
}

}  // namespace
}  // namespace dpl::test
