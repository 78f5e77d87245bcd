// QLinearConv (src/runtime/ops/qlinear_conv.cpp) against an integer convolution reference
// written here: int8 and uint8 inputs, per-channel weight scales and zero points, the oneDNN
// int8 path, with offset terms for weights whose w - w_zp does not fit int8 (uint8 weights),
// and the reference path on CPUs without exact int8 accumulation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/dnnl_util.h"
#include "runtime/op_tester.h"
#include "runtime/ops/dnnl_test_util.h"
#include "runtime/ops/op_test_util.h"
#include "tensor_compare.h"

namespace dpl::test {
namespace {

// 2-D integer convolution accumulators, padding contributing 0 (= x_zp).
std::vector<int64_t> int_conv_ref(const Tensor& x, int32_t xzp, const Tensor& w, const std::vector<int32_t>& wzp,
                                  int64_t group, int64_t stride, int64_t pad, Shape& ys) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), M = w.dim(0), Cg = C / group, Mg = M / group;
  const int64_t KH = w.dim(2), KW = w.dim(3);
  const int64_t OH = (H + 2 * pad - KH) / stride + 1, OW = (W + 2 * pad - KW) / stride + 1;
  ys = {N, M, OH, OW};
  std::vector<int64_t> acc(static_cast<size_t>(N * M * OH * OW), 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t a = 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t xv = x.at_i64(((n * C + (m / Mg) * Cg + c) * H + ih) * W + iw) - xzp;
                const int64_t wv = w.at_i64(((m * Cg + c) * KH + kh) * KW + kw) - wzp[m];
                a += xv * wv;
              }
          acc[((n * M + m) * OH + oh) * OW + ow] = a;
        }
  return acc;
}

// x uint8 or int8; weights either fit int8 after the zero point (oneDNN path) or not
// (reference path); per-channel w scales and zero points; int32 bias.
template <typename XT, typename WT>
void check_qlinear_conv(int wlo, int whi, std::vector<int32_t> wzp_vals, int32_t xzp, uint32_t seed, bool const_w,
                        bool wide = false) {
  const int64_t M = 4, group = 2, stride = 2, pad = 1;
  Tensor x = random_int<XT>({2, 6, 9, 8}, seed, std::numeric_limits<XT>::min(), std::numeric_limits<XT>::max());
  Tensor w = random_int<WT>({M, 3, 3, 3}, seed + 1, wlo, whi);
  Tensor bias = random_int<int32_t>({M}, seed + 2, -2000, 2000);
  Tensor xs = Tensor::scalar<float>(0.02f), ys = Tensor::scalar<float>(0.15f);
  Tensor ws = Tensor::from_vector<float>({M}, {0.011f, 0.02f, 0.007f, 0.0137f});
  Tensor xz = Tensor::scalar<XT>(static_cast<XT>(xzp));
  std::vector<WT> wzv(wzp_vals.begin(), wzp_vals.end());
  Tensor wz = Tensor::from_vector<WT>({M}, wzv);
  Tensor yz = Tensor::scalar<uint8_t>(100);
  Shape yshape;
  std::vector<int64_t> acc = int_conv_ref(x, xzp, w, wzp_vals, group, stride, pad, yshape);
  Tensor want(DType::U8, yshape);
  const int64_t sp = yshape[2] * yshape[3];
  for (int64_t i = 0; i < want.numel(); ++i) {
    const int64_t m = i / sp % M;
    const float mult = 0.02f * ws.data<float>()[m] / 0.15f;
    want.data<uint8_t>()[i] = requant_ref<uint8_t>(acc[i] + bias.data<int32_t>()[m], mult, 100);
  }
  OneNodeModel mod("QLinearConv");
  mod.attr_i("group", group).attr_ints("strides", {stride, stride}).attr_ints("pads", {pad, pad, pad, pad});
  mod.input("x", x).init("x_scale", xs).init("x_zero_point", xz);
  TensorMap feeds{{"x", x}};
  if (const_w) {
    mod.init("w", w).init("w_scale", ws).init("w_zero_point", wz);
  } else {
    mod.input("w", w).input("w_scale", ws).input("w_zero_point", wz);
    feeds["w"] = w, feeds["w_scale"] = ws, feeds["w_zero_point"] = wz;
  }
  mod.init("y_scale", ys).init("y_zero_point", yz).init("B", bias).output("y", DType::U8);
  OnnxGraph g = mod.graph();
  Session s(g);
  expect_tensor_near(s.run(feeds).at("y"), want, 0, 0);
  EXPECT_EQ(s.kernel_info(0).impl, !dnn::has_exact_int8() ? "reference"
                                   : wide                ? "oneDNN int8 + offset terms"
                                                         : "oneDNN int8");
  // Batch change on the same session.
  Tensor x1 = x.slice_rows(1, 1);
  Tensor want1 = want.slice_rows(1, 1);
  feeds["x"] = x1;
  expect_tensor_near(s.run(feeds).at("y"), want1, 0, 0);
}

TEST(QLinearConv, Int8WeightsPerChannelMatchesReference) {
  // Shifted weights fit in int8: oneDNN int8 path (on VNNI machines).
  check_qlinear_conv<uint8_t, int8_t>(-100, 100, {0, 3, -5, 0}, 120, 50, true);
  check_qlinear_conv<uint8_t, int8_t>(-100, 100, {0, 3, -5, 0}, 7, 51, false);
  check_qlinear_conv<int8_t, int8_t>(-128, 127, {0, 0, 0, 0}, -3, 52, true);
  check_qlinear_conv<uint8_t, uint8_t>(100, 150, {128, 120, 130, 128}, 128, 53, true);
}

TEST(QLinearConv, WideWeightsRunOnTheInt8KernelWithOffsetTerms) {
  // w - w_zp outside int8 (uint8 weights with zero point 0 or 255 reach +-255; int8 weights
  // with a zero point of +-100): the int8 convolution of the moved weights plus offset times
  // window sums, bit for bit the reference (on VNNI CPUs; the reference loop elsewhere).
  check_qlinear_conv<uint8_t, uint8_t>(0, 255, {0, 0, 10, 0}, 128, 54, true, true);
  check_qlinear_conv<uint8_t, uint8_t>(0, 255, {255, 3, 128, 0}, 0, 56, false, true);
  check_qlinear_conv<int8_t, uint8_t>(0, 255, {0, 200, 17, 255}, -128, 57, true, true);
  check_qlinear_conv<int8_t, int8_t>(-128, 127, {100, -100, 0, 0}, 0, 55, false, true);
}

}  // namespace
}  // namespace dpl::test
