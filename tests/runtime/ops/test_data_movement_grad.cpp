// Backward of the ops that move or reshape elements (runtime/ops/grad_util.cpp: reshapes,
// and index tracing for Transpose, Slice, Concat, Split, Pad) and of Resize
// (resize_grad.cpp: the tables transposed), against central differences.
#include <gtest/gtest.h>

#include "grad_test_util.h"

namespace dpl::test {
namespace {

OpTester one_input(const std::string& op, const Shape& x) {
  OpTester t(op);
  t.input<float>("X", x, grad_values(shape_numel(x), 1));
  return t;
}

TEST(ReshapeGrad, ReshapeFlattenSqueezeUnsqueeze) {
  {
    OpTester t = one_input("Reshape", {2, 3, 4});
    t.input<int64_t>("shape", {2}, {4, -1}, true);
    t.output("Y");
    t.check_gradient();
  }
  {
    OpTester t = one_input("Flatten", {2, 3, 2});
    t.attr("axis", int64_t{2}).output("Y");
    t.check_gradient();
  }
  {
    OpTester t = one_input("Squeeze", {2, 1, 3});
    t.input<int64_t>("axes", {1}, {1}, true);
    t.output("Y");
    t.check_gradient();
  }
  {
    OpTester t = one_input("Unsqueeze", {2, 3});
    t.input<int64_t>("axes", {2}, {0, 3}, true);
    t.output("Y");
    t.check_gradient();
  }
}

TEST(TransposeGrad, Permutation) {
  OpTester t = one_input("Transpose", {2, 3, 4});
  t.attr("perm", std::vector<int64_t>{2, 0, 1}).output("Y");
  t.check_gradient();
}

TEST(SliceGrad, StepsNegativeStepsAndAxes) {
  OpTester t = one_input("Slice", {4, 6, 5});
  t.input<int64_t>("starts", {3}, {1, 5, 0}, true);
  t.input<int64_t>("ends", {3}, {4, 0, 5}, true);
  t.input<int64_t>("axes", {3}, {0, 1, 2}, true);
  t.input<int64_t>("steps", {3}, {2, -2, 1}, true);
  t.output("Y");
  t.check_gradient();
}

TEST(ConcatGrad, EveryInputGetsItsPart) {
  OpTester t("Concat");
  t.attr("axis", int64_t{1});
  t.input<float>("A", {2, 2, 3}, grad_values(12, 1));
  t.input<float>("B", {2, 1, 3}, grad_values(6, 2));
  t.input<float>("C", {2, 3, 3}, grad_values(18, 3));
  t.output("Y");
  t.check_gradient();
}

TEST(SplitGrad, OutputsGatherBack) {
  OpTester t = one_input("Split", {2, 6, 2});
  t.attr("axis", int64_t{1});
  t.input<int64_t>("split", {3}, {1, 2, 3}, true);
  t.output("Y0").output("Y1").output("Y2");
  t.check_gradient();
}

TEST(GatherGrad, AxesNegativeAndRepeatedIndices) {
  {
    OpTester t = one_input("Gather", {3, 4, 2});
    t.attr("axis", int64_t{1});
    t.input<int64_t>("indices", {2, 2}, {3, -4, 1, 3}, true);  // 3 twice: its gradients add up
    t.output("Y");
    t.check_gradient();
  }
  {
    OpTester t = one_input("Gather", {5, 3});
    t.input<int64_t>("indices", {}, {2}, true);  // a scalar index drops the axis
    t.output("Y");
    t.check_gradient();
  }
}

TEST(ExpandTileGrad, CopiesSumBackOntoTheirSource) {
  {
    OpTester t = one_input("Expand", {1, 3, 1});
    t.input<int64_t>("shape", {4}, {2, 2, 3, 4}, true);
    t.output("Y");
    t.check_gradient();
  }
  {
    OpTester t = one_input("Tile", {2, 3});
    t.input<int64_t>("repeats", {2}, {3, 2}, true);
    t.output("Y");
    t.check_gradient();
  }
}

TEST(PadGrad, ConstantReflectEdge) {
  for (const char* mode : {"constant", "reflect", "edge"}) {
    SCOPED_TRACE(mode);
    OpTester t = one_input("Pad", {1, 2, 3, 4});
    t.attr("mode", std::string(mode));
    t.input<int64_t>("pads", {8}, {0, 0, 1, 2, 0, 0, 2, 1}, true);
    if (std::string(mode) == "constant") t.input<float>("value", {}, {0.5f}, true);
    t.output("Y");
    GradientCheck only_x;  // the pad value has no gradient
    only_x.wrt = {"X"};
    t.check_gradient(only_x);
  }
}

TEST(ResizeGrad, NearestAndLinear) {
  struct Case {
    const char* mode;
    const char* coord;
    std::vector<float> scales;
  };
  const std::vector<Case> cases = {
      {"nearest", "asymmetric", {1, 1, 2, 2}},         // YOLO-style 2x upsampling
      {"nearest", "half_pixel", {1, 1, 1.5f, 0.5f}},   // repeats and drops
      {"linear", "half_pixel", {1, 1, 2, 2}},
      {"linear", "align_corners", {1, 1, 1.7f, 0.6f}},
      {"cubic", "half_pixel", {1, 1, 2, 1}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.mode) + " " + c.coord);
    OpTester t = one_input("Resize", {1, 2, 4, 5});
    t.attr("mode", std::string(c.mode)).attr("coordinate_transformation_mode", std::string(c.coord));
    t.omitted_input();
    t.input<float>("scales", {4}, c.scales, true);
    t.output("Y");
    GradientCheck only_x;  // scales are not differentiated
    only_x.wrt = {"X"};
    t.check_gradient(only_x);
  }
}

}  // namespace
}  // namespace dpl::test
