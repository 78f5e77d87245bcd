// Resize and Upsample (src/runtime/ops/resize.cpp): coordinate modes and nearest rounding by
// hand, leading axes and low ranks, and the separable path against a naive 2-D reference
// written here, single- and multi-threaded.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

TEST(Resize, LinearAlignCorners2x2To3x3) {
  OpTester t("Resize", 13);
  t.attr("mode", std::string("linear")).attr("coordinate_transformation_mode", std::string("align_corners"));
  t.input<float>("X", {1, 1, 2, 2}, {1, 2, 3, 4});
  t.omitted_input().omitted_input();
  t.input<int64_t>("sizes", {4}, {1, 1, 3, 3}, true);
  t.output<float>("Y", {1, 1, 3, 3}, {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
  t.run();
}

TEST(Resize, RoiIsIgnoredOutsideTfCropAndResize) {
  // A roi of one value with align_corners: ONNX ignores roi in this mode; it was read as
  // 2 * rank values (out of bounds: fuzz_model; the sanitizer run reports such a read, the
  // values read did not matter in this mode). Same output as without it.
  OpTester t("Resize", 13);
  t.attr("mode", std::string("linear")).attr("coordinate_transformation_mode", std::string("align_corners"));
  t.input<float>("X", {1, 1, 2, 2}, {1, 2, 3, 4});
  t.input<float>("roi", {1}, {0.5f}, true).omitted_input();
  t.input<int64_t>("sizes", {4}, {1, 1, 3, 3}, true);
  t.output<float>("Y", {1, 1, 3, 3}, {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
  t.run();
}

TEST(Resize, NearestRoundPreferCeilVersusFloor) {
  // asymmetric x2: source positions 0, 0.5, 1, 1.5, ...: the ties go up or down.
  for (bool ceil : {true, false}) {
    SCOPED_TRACE(ceil ? "round_prefer_ceil" : "round_prefer_floor");
    OpTester t("Resize", 13);
    t.attr("mode", std::string("nearest"))
        .attr("coordinate_transformation_mode", std::string("asymmetric"))
        .attr("nearest_mode", std::string(ceil ? "round_prefer_ceil" : "round_prefer_floor"));
    t.input<float>("X", {1, 1, 1, 4}, {1, 2, 3, 4});
    t.omitted_input().omitted_input();
    t.input<int64_t>("sizes", {4}, {1, 1, 1, 8}, true);
    if (ceil) t.output<float>("Y", {1, 1, 1, 8}, {1, 2, 2, 3, 3, 4, 4, 4});
    else t.output<float>("Y", {1, 1, 1, 8}, {1, 1, 2, 2, 3, 3, 4, 4});
    t.run();
  }
  // half_pixel /2: source positions 0.5 and 2.5.
  OpTester t("Resize", 13);
  t.attr("mode", std::string("nearest")).attr("nearest_mode", std::string("round_prefer_ceil"));
  t.input<float>("X", {1, 4}, {1, 2, 3, 4});
  t.omitted_input().omitted_input();
  t.input<int64_t>("sizes", {2}, {1, 2});
  t.output<float>("Y", {1, 2}, {2, 4});
  t.run();
}

TEST(Resize, LeadingAxesAndLowRanks) {
  {
    // Rank 1, linear, align_corners: 3 -> 5 samples.
    OpTester t("Resize", 13);
    t.attr("mode", std::string("linear")).attr("coordinate_transformation_mode", std::string("align_corners"));
    t.input<float>("X", {3}, {0, 10, 20});
    t.omitted_input().omitted_input();
    t.input<int64_t>("sizes", {1}, {5}, true);
    t.output<float>("Y", {5}, {0, 5, 10, 15, 20});
    t.run();
  }
  {
    // Rank 3, resizing the first axis (nearest asymmetric x2) and not the others; int32.
    OpTester t("Resize", 13);
    t.attr("mode", std::string("nearest")).attr("coordinate_transformation_mode", std::string("asymmetric"));
    t.input<int32_t>("X", {2, 1, 2}, {1, 2, 3, 4});
    t.omitted_input();
    t.input<float>("scales", {3}, {2, 1, 1}, true);
    t.output<int32_t>("Y", {4, 1, 2}, {1, 2, 1, 2, 3, 4, 3, 4});
    t.run();
  }
  {
    // tf_crop_and_resize: the second output column falls outside the crop.
    OpTester t("Resize", 13);
    t.attr("mode", std::string("linear"))
        .attr("coordinate_transformation_mode", std::string("tf_crop_and_resize"))
        .attr("extrapolation_value", 9.f);
    t.input<float>("X", {1, 2}, {1, 3});
    t.input<float>("roi", {4}, {0, 0.5f, 1, 1.5f}, true);
    t.omitted_input();
    t.input<int64_t>("sizes", {2}, {1, 2}, true);
    // Row 0.5 * (0 + 1) * 0 = 0; columns 0.5 and 1.5 (outside [0, 1]).
    t.output<float>("Y", {1, 2}, {2, 9});
    t.run();
  }
}

TEST(Resize, UpsampleOpset9Nearest) {
  OpTester t("Upsample", 9);
  t.attr("mode", std::string("nearest"));
  t.input<float>("X", {1, 1, 2, 2}, {1, 2, 3, 4});
  t.input<float>("scales", {4}, {1, 1, 2, 3}, true);
  t.output<float>("Y", {1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  t.run();
}

// Direct 2-D bilinear / nearest on [N, C, H, W] with the ONNX coordinate formulas.
std::vector<float> naive_resize(const std::vector<float>& x, const Shape& xs, int64_t oh, int64_t ow,
                                const std::string& mode, const std::string& coord) {
  const int64_t nc = xs[0] * xs[1], ih = xs[2], iw = xs[3];
  auto src = [&](int64_t o, int64_t in, int64_t out) {
    const double s = static_cast<double>(out) / static_cast<double>(in);
    if (coord == "half_pixel") return (o + 0.5) / s - 0.5;
    if (coord == "pytorch_half_pixel") return out > 1 ? (o + 0.5) / s - 0.5 : 0.0;
    if (coord == "align_corners") return out == 1 ? 0.0 : o * static_cast<double>(in - 1) / static_cast<double>(out - 1);
    return o / s;  // asymmetric
  };
  auto clampi = [](int64_t v, int64_t n) { return std::min<int64_t>(std::max<int64_t>(v, 0), n - 1); };
  std::vector<float> y(nc * oh * ow);
  for (int64_t c = 0; c < nc; ++c)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const double sy = src(i, ih, oh), sx = src(j, iw, ow);
        const float* p = &x[c * ih * iw];
        float v;
        if (mode == "nearest") {  // round_prefer_floor
          auto rnd = [](double t) { return t - std::floor(t) <= 0.5 ? std::floor(t) : std::floor(t) + 1; };
          v = p[clampi(static_cast<int64_t>(rnd(sy)), ih) * iw + clampi(static_cast<int64_t>(rnd(sx)), iw)];
        } else {
          const double fy = std::floor(sy), fx = std::floor(sx), dy = sy - fy, dx = sx - fx;
          const int64_t y0 = clampi(static_cast<int64_t>(fy), ih), y1 = clampi(static_cast<int64_t>(fy) + 1, ih);
          const int64_t x0 = clampi(static_cast<int64_t>(fx), iw), x1 = clampi(static_cast<int64_t>(fx) + 1, iw);
          v = static_cast<float>((1 - dy) * ((1 - dx) * p[y0 * iw + x0] + dx * p[y0 * iw + x1]) +
                                 dy * ((1 - dx) * p[y1 * iw + x0] + dx * p[y1 * iw + x1]));
        }
        y[(c * oh + i) * ow + j] = v;
      }
  return y;
}

TEST(Resize, SeparableMatchesNaive2D) {
  const Shape xs = {2, 3, 5, 7};
  const auto x = random_f(shape_numel(xs), 11);
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{10, 14}, {9, 4}, {40, 56}, {1, 3}, {5, 21}};
  with_threads([&] {
    for (const std::string mode : {"linear", "nearest"})
      for (const std::string coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"})
        for (auto [oh, ow] : sizes) {
          SCOPED_TRACE(mode + " " + coord + " " + std::to_string(oh) + "x" + std::to_string(ow));
          OpTester t("Resize", 13);
          t.attr("mode", mode).attr("coordinate_transformation_mode", coord);
          t.input<float>("X", xs, x);
          t.omitted_input().omitted_input();
          t.input<int64_t>("sizes", {4}, {2, 3, oh, ow}, true);
          t.output<float>("Y", {2, 3, oh, ow}, naive_resize(x, xs, oh, ow, mode, coord));
          t.tolerance(1e-5, 1e-5);
          t.run();
        }
  });
}

}  // namespace
}  // namespace dpl::test
