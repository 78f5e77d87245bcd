// MatMul (src/runtime/ops/matmul.cpp) against numpy's matmul written out here: batched
// broadcasting, 1-D operands, shape changes with constant weights, integer types.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"
#include "runtime/ops/dnnl_test_util.h"
#include "tensor_compare.h"

namespace dpl::test {
namespace {

// numpy matmul by definition: promote 1-D, broadcast batch dims.
Tensor matmul_ref(const Tensor& A, const Tensor& B) {
  Shape as = A.shape(), bs = B.shape();
  const bool a1 = as.size() == 1, b1 = bs.size() == 1;
  if (a1) as.insert(as.begin(), 1);
  if (b1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  const size_t r = std::max(as.size(), bs.size()) - 2;
  Shape ab(r, 1), bb(r, 1), ob(r);
  std::copy(as.begin(), as.end() - 2, ab.end() - static_cast<long>(as.size() - 2));
  std::copy(bs.begin(), bs.end() - 2, bb.end() - static_cast<long>(bs.size() - 2));
  int64_t batch = 1;
  for (size_t d = 0; d < r; ++d) ob[d] = std::max(ab[d], bb[d]), batch *= ob[d];
  Shape ys = ob;
  if (!a1) ys.push_back(M);
  if (!b1) ys.push_back(N);
  Tensor Y(DType::F32, ys);
  for (int64_t bi = 0; bi < batch; ++bi) {
    int64_t rem = bi, aoff = 0, boff = 0, amul = 1, bmul = 1;
    for (size_t d = r; d-- > 0;) {
      const int64_t i = rem % ob[d];
      rem /= ob[d];
      aoff += (ab[d] == 1 ? 0 : i) * amul;
      boff += (bb[d] == 1 ? 0 : i) * bmul;
      amul *= ab[d];
      bmul *= bb[d];
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += static_cast<double>(A.data<float>()[aoff * M * K + m * K + k]) * B.data<float>()[boff * K * N + k * N + n];
        Y.data<float>()[(bi * M + m) * N + n] = static_cast<float>(acc);
      }
  }
  return Y;
}

TEST(MatMul, BatchedBroadcastAndOneDimensional) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 1, 3, 4}, {3, 4, 5}}, {{3, 4}, {2, 4, 5}}, {{2, 3, 4}, {4, 5}}, {{4}, {2, 4, 5}},
      {{2, 3, 4}, {4}},          {{4}, {4}},          {{5, 1, 2, 4}, {1, 3, 4, 6}}, {{1, 7, 8}, {3, 8, 2}}};
  uint32_t seed = 10;
  for (const auto& [sa, sb] : cases) {
    Tensor A = random_f32(sa, seed++), B = random_f32(sb, seed++);
    Tensor want = matmul_ref(A, B);
    for (bool const_b : {false, true}) {
      SCOPED_TRACE(shape_str(sa) + " x " + shape_str(sb) + (const_b ? " constant B" : ""));
      OneNodeModel m("MatMul");
      m.input("A", A);
      TensorMap feeds{{"A", A}};
      if (const_b) m.init("B", B);
      else m.input("B", B), feeds["B"] = B;
      m.output("Y", DType::F32);
      OnnxGraph g = m.graph();
      Session s(g);
      expect_tensor_near(s.run(feeds).at("Y"), want, 1e-5, 1e-5);
    }
  }
}

TEST(MatMul, ShapeChangeWithConstantWeights) {
  Tensor B = random_f32({16, 8}, 40);
  OneNodeModel m("MatMul");
  Tensor a = random_f32({2, 3, 16}, 41), b = random_f32({4, 5, 16}, 42);
  m.input("A", a).init("B", B).output("Y", DType::F32);
  OnnxGraph g = m.graph();
  Session s(g);
  for (const Tensor* x : {&a, &b, &a}) expect_tensor_near(s.run({{"A", *x}}).at("Y"), matmul_ref(*x, B), 1e-5, 1e-5);
}

TEST(MatMul, IntegerReference) {
  OpTester t("MatMul");
  t.input<int32_t>("A", {2, 2}, {1, 2, 3, 4});
  t.input<int32_t>("B", {2, 3}, {1, 0, -1, 2, 1, 5});
  t.output<int32_t>("Y", {2, 3}, {5, 2, 9, 11, 4, 17});
  t.run();
}

TEST(MatMul, IntegerOverflowWrapsAroundAsNumpy) {
  // (2^57 - 1)^2 + 1 * 3 overflows int64: the result wraps modulo 2^64 as numpy's does (and is
  // no undefined behaviour: the sanitizer run checks it; found by fuzz_model).
  const int64_t big = (int64_t{1} << 57) - 1;
  const uint64_t wrapped = static_cast<uint64_t>(big) * static_cast<uint64_t>(big) + 3u;
  OpTester t("MatMul");
  t.input<int64_t>("A", {1, 2}, {big, 1});
  t.input<int64_t>("B", {2, 1}, {big, 3});
  t.output<int64_t>("Y", {1, 1}, {static_cast<int64_t>(wrapped)});
  t.run();
}

TEST(MatMul, InnerMismatchIsAnError) {
  OneNodeModel m("MatMul");
  Tensor a = random_f32({2, 3}, 1), b = random_f32({4, 2}, 2);
  m.input("A", a).input("B", b).output("Y", DType::F32);
  OnnxGraph g = m.graph();
  Session s(g);
  EXPECT_THROW(s.run({{"A", a}, {"B", b}}), Error);
}

}  // namespace
}  // namespace dpl::test
