// Backward of Conv and ConvTranspose (runtime/ops/conv_grad.cpp) against central
// differences: groups, depthwise, dilation, strides, asymmetric pads, 1-D and 3-D, bias,
// the weight as an initializer, and which convs report a backward.
#include <gtest/gtest.h>

#include "grad_test_util.h"

namespace dpl::test {
namespace {

struct ConvCase {
  const char* name;
  Shape x, w;
  std::function<void(OpTester&)> attrs;
  bool bias = true;
  bool transposed = false;
  int64_t m = 0;  // output channels when not W's dim 0 (ConvTranspose)
};

void check_conv(const ConvCase& c, bool constant_w = false) {
  SCOPED_TRACE(c.name);
  OpTester t(c.transposed ? "ConvTranspose" : "Conv");
  c.attrs(t);
  t.input<float>("X", c.x, grad_values(shape_numel(c.x), 1));
  t.input<float>("W", c.w, grad_values(shape_numel(c.w), 2), constant_w);
  if (c.bias) {
    const int64_t m = c.m ? c.m : c.w[0];
    t.input<float>("B", {m}, grad_values(m, 3));
  }
  t.output("Y");
  t.check_gradient();
}

TEST(ConvGrad, MatchesCentralDifferencesAcrossAttributes) {
  auto none = [](OpTester&) {};
  const std::vector<ConvCase> cases = {
      {"plain 3x3", {2, 3, 5, 5}, {4, 3, 3, 3}, none},
      {"stride 2, asymmetric pads",
       {1, 2, 6, 7},
       {3, 2, 3, 3},
       [](OpTester& t) { t.attr("strides", std::vector<int64_t>{2, 2}).attr("pads", std::vector<int64_t>{1, 0, 0, 2}); }},
      {"dilation 2",
       {1, 2, 7, 7},
       {2, 2, 3, 3},
       [](OpTester& t) { t.attr("dilations", std::vector<int64_t>{2, 2}).attr("pads", std::vector<int64_t>{1, 1, 1, 1}); }},
      {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, [](OpTester& t) { t.attr("group", int64_t{2}); }},
      {"depthwise, stride 2, same upper",
       {1, 4, 6, 6},
       {4, 1, 3, 3},
       [](OpTester& t) { t.attr("group", int64_t{4}).attr("strides", std::vector<int64_t>{2, 2}).attr("auto_pad", std::string("SAME_UPPER")); }},
      {"1x1 without bias", {2, 5, 4, 4}, {3, 5, 1, 1}, none, false},
      // 1x1, stride 1, unpadded: dL/dW from the per-image GEMMs (conv_grad.cpp plain_1x1).
      {"1x1 with bias, batch 3", {3, 5, 3, 4}, {6, 5, 1, 1}, none},
      {"1-D 1x1", {2, 3, 7}, {4, 3, 1}, none},
      {"1x1 stride 2 (primitive)", {1, 3, 5, 5}, {2, 3, 1, 1}, [](OpTester& t) { t.attr("strides", std::vector<int64_t>{2, 2}); }},
      {"1-D", {2, 3, 9}, {2, 3, 3}, [](OpTester& t) { t.attr("pads", std::vector<int64_t>{2, 1}); }},
      {"3-D", {1, 2, 4, 4, 4}, {2, 2, 2, 2, 2}, none},
  };
  for (const auto& c : cases) check_conv(c);
}

TEST(ConvGrad, ConstantWeightsGetTheirGradientToo) {
  check_conv({"initializer W", {1, 3, 5, 5}, {2, 3, 3, 3}, [](OpTester& t) { t.attr("pads", std::vector<int64_t>{1, 1, 1, 1}); }},
             true);
}

TEST(ConvGrad, ConvTransposeMatchesCentralDifferences) {
  auto none = [](OpTester&) {};
  const std::vector<ConvCase> cases = {
      {"2x upsample", {1, 3, 4, 4}, {3, 2, 2, 2}, [](OpTester& t) { t.attr("strides", std::vector<int64_t>{2, 2}); }, true, true, 2},
      {"3x3 pads, output_padding",
       {2, 2, 3, 4},
       {2, 3, 3, 3},
       [](OpTester& t) {
         t.attr("strides", std::vector<int64_t>{2, 2}).attr("pads", std::vector<int64_t>{1, 0, 1, 1});
         t.attr("output_padding", std::vector<int64_t>{1, 0});
       },
       true, true, 3},
      {"groups 2, no bias", {1, 4, 3, 3}, {4, 1, 3, 3}, [](OpTester& t) { t.attr("group", int64_t{2}); }, false, true},
      {"plain", {1, 2, 3, 3}, {2, 2, 2, 2}, none, true, true, 2},
      // output_shape beyond the natural 6x6: the primitive's window sits inside a larger
      // output whose border holds the bias only (pads -1/-1 on one axis, 0/-1 on the other).
      {"output_shape beyond the natural output",
       {1, 2, 3, 3},
       {2, 3, 2, 2},
       [](OpTester& t) { t.attr("strides", std::vector<int64_t>{2, 2}).attr("output_shape", std::vector<int64_t>{8, 7}); },
       true, true, 3},
      {"output_shape beyond, 1-D, SAME_UPPER",
       {2, 2, 4},
       {2, 2, 3},
       [](OpTester& t) {
         t.attr("strides", std::vector<int64_t>{2}).attr("output_shape", std::vector<int64_t>{11});
         t.attr("auto_pad", std::string("SAME_UPPER"));
       },
       false, true, 2},
  };
  for (const auto& c : cases) check_conv(c);
}

TEST(ConvGrad, OnlyTheWantedInputsAreDifferentiated) {
  OpTester t("Conv");
  t.input<float>("X", {1, 2, 4, 4}, grad_values(32, 1));
  t.input<float>("W", {3, 2, 3, 3}, grad_values(54, 2));
  t.input<float>("B", {3}, grad_values(3, 3));
  t.output("Y");
  GradientCheck only_w;
  only_w.wrt = {"W", "B"};  // the bias gradient without the data gradient, and the reverse
  t.check_gradient(only_w);
  GradientCheck only_b;
  only_b.wrt = {"B"};
  t.check_gradient(only_b);
}

}  // namespace
}  // namespace dpl::test
