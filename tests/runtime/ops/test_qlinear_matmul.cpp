// QLinearMatMul and MatMulInteger (src/runtime/ops/qlinear_matmul.cpp) against integer
// reference loops written here.
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

template <typename AT, typename BT>
void check_qlinear_matmul(Shape sa, Shape sb, int blo, int bhi, int32_t azp, std::vector<int32_t> bzp, bool const_b,
                          uint32_t seed, bool wide = false) {
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
  EXPECT_EQ(s.kernel_info(0).impl, !dnn::has_exact_int8() ? "reference"
                                   : wide                ? "oneDNN int8 + offset terms"
                                                         : "oneDNN int8");
}

TEST(QLinearMatMul, PerColumnScalesMatchReference) {
  check_qlinear_matmul<uint8_t, int8_t>({2, 5, 33}, {33, 7}, -127, 127, 131, {0, 1, -1, 2, 0, 0, 3}, true, 60,
                                        /*wide: -127 - 3*/ true);
  check_qlinear_matmul<uint8_t, int8_t>({2, 5, 33}, {2, 33, 7}, -120, 120, 0, {4}, false, 61);
  check_qlinear_matmul<uint8_t, uint8_t>({3, 16}, {16, 4}, 100, 160, 128, {128, 129, 127, 128}, true, 63);
}

TEST(QLinearMatMul, WideWeightsRunOnTheInt8KernelWithOffsetTerms) {
  // b - b_zp outside int8: the int8 matmul of the moved B plus offset times A's row sums.
  check_qlinear_matmul<int8_t, uint8_t>({3, 16}, {16, 4}, 0, 255, -7, {0, 0, 0, 0}, true, 62, true);
  check_qlinear_matmul<uint8_t, uint8_t>({2, 5, 33}, {2, 33, 7}, 0, 255, 131, {0, 255, 128, 3, 9, 250, 1}, false, 64,
                                         true);
  check_qlinear_matmul<uint8_t, int8_t>({2, 5, 33}, {33, 7}, -128, 127, 0, {100, -100, 0, 1, 2, 3, 4}, true, 65, true);
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
