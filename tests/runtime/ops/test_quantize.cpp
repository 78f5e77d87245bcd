// QuantizeLinear / DequantizeLinear with hand-computed values, and QLinearConv /
// QLinearMatMul / MatMulInteger against integer reference loops written here.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/ops/dnnl_test_util.h"
#include "runtime/op_tester.h"
#include "tensor_compare.h"

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

template <typename Q>
Q requant_ref(int64_t acc, float mult, int32_t zp) {
  float v = std::nearbyint(static_cast<float>(acc) * mult) + static_cast<float>(zp);
  v = std::min(std::max(v, static_cast<float>(std::numeric_limits<Q>::min())),
               static_cast<float>(std::numeric_limits<Q>::max()));
  return static_cast<Q>(v);
}

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
void check_qlinear_conv(int wlo, int whi, std::vector<int32_t> wzp_vals, int32_t xzp, uint32_t seed, bool const_w) {
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

TEST(QLinearConv, WideWeightsUseReference) {
  // uint8 weights with zero point 0 do not fit int8 after shifting: reference path.
  check_qlinear_conv<uint8_t, uint8_t>(0, 255, {0, 0, 10, 0}, 128, 54, true);
  check_qlinear_conv<int8_t, int8_t>(-128, 127, {100, -100, 0, 0}, 0, 55, false);
}

template <typename AT, typename BT>
void check_qlinear_matmul(Shape sa, Shape sb, int blo, int bhi, int32_t azp, std::vector<int32_t> bzp, bool const_b,
                          uint32_t seed) {
  Tensor a = random_int<AT>(sa, seed, std::numeric_limits<AT>::min(), std::numeric_limits<AT>::max());
  Tensor b = random_int<BT>(sb, seed + 1, blo, bhi);
  const int64_t K = sa.back(), N = sb.back(), M = sa[sa.size() - 2];
  std::vector<float> bsv(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) bsv[n] = 0.003f + 0.001f * static_cast<float>(n);
  const float as = 0.05f, ysc = 0.2f;
  const int64_t batch = a.numel() / (M * K);
  const bool b_batched = sb.size() > 2;
  Shape ysh = sa;
  ysh.back() = N;
  Tensor want(DType::I8, ysh);
  for (int64_t bi = 0; bi < batch; ++bi)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        int64_t acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += (a.at_i64((bi * M + m) * K + k) - azp) *
                 (b.at_i64(((b_batched ? bi : 0) * K + k) * N + n) - bzp[bzp.size() == 1 ? 0 : n]);
        want.data<int8_t>()[(bi * M + m) * N + n] = requant_ref<int8_t>(acc, as * bsv[n] / ysc, -5);
      }
  std::vector<BT> bzv(bzp.begin(), bzp.end());
  Tensor bz = Tensor::from_vector<BT>({static_cast<int64_t>(bzv.size())}, bzv);
  Tensor bs = Tensor::from_vector<float>({N}, bsv);
  OneNodeModel mod("QLinearMatMul");
  mod.input("a", a).init("a_scale", Tensor::scalar<float>(as)).init("a_zero_point", Tensor::scalar<AT>(static_cast<AT>(azp)));
  TensorMap feeds{{"a", a}};
  if (const_b) mod.init("b", b);
  else mod.input("b", b), feeds["b"] = b;
  mod.init("b_scale", bs).init("b_zero_point", bz).init("y_scale", Tensor::scalar<float>(ysc));
  mod.init("y_zero_point", Tensor::scalar<int8_t>(-5)).output("y", DType::I8);
  OnnxGraph g = mod.graph();
  Session s(g);
  expect_tensor_near(s.run(feeds).at("y"), want, 0, 0);
}

TEST(QLinearMatMul, PerColumnScalesMatchReference) {
  check_qlinear_matmul<uint8_t, int8_t>({2, 5, 33}, {33, 7}, -127, 127, 131, {0, 1, -1, 2, 0, 0, 3}, true, 60);
  check_qlinear_matmul<uint8_t, int8_t>({2, 5, 33}, {2, 33, 7}, -120, 120, 0, {4}, false, 61);
  check_qlinear_matmul<int8_t, uint8_t>({3, 16}, {16, 4}, 0, 255, -7, {0, 0, 0, 0}, true, 62);  // reference path
  check_qlinear_matmul<uint8_t, uint8_t>({3, 16}, {16, 4}, 100, 160, 128, {128, 129, 127, 128}, true, 63);
}

TEST(MatMulInteger, PerRowAZeroPoint) {
  // A zero point per row of A, B zero point per column.
  OpTester t("MatMulInteger");
  t.input<uint8_t>("A", {2, 3}, {10, 20, 30, 1, 2, 3});
  t.input<int8_t>("B", {3, 2}, {1, -1, 2, 0, -3, 4}, true);
  t.input<uint8_t>("a_zero_point", {2}, {10, 1});
  t.input<int8_t>("b_zero_point", {2}, {1, 0});
  // A - azp: [[0,10,20],[0,1,2]]; B - bzp: [[0,-1],[1,0],[-4,4]].
  t.output<int32_t>("Y", {2, 2}, {10 - 80, 80, 1 - 8, 8});
  t.run();
}

}  // namespace
}  // namespace dpl::test
