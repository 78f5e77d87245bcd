// Gemm and MatMul against reference loops written here.
#include <gtest/gtest.h>

#include "runtime/ops/dnnl_test_util.h"
#include "runtime/op_tester.h"
#include "tensor_compare.h"

namespace dpl::test {
namespace {

// Y = alpha * op(A) op(B) + beta * C, C broadcast from [cm, cn].
Tensor gemm_ref(const Tensor& A, const Tensor& B, const Tensor* C, bool ta, bool tb, float alpha, float beta) {
  const int64_t M = ta ? A.dim(1) : A.dim(0), K = ta ? A.dim(0) : A.dim(1), N = tb ? B.dim(0) : B.dim(1);
  int64_t cm = 1, cn = 1;
  if (C && C->rank() == 1) cn = C->dim(0);
  if (C && C->rank() == 2) cm = C->dim(0), cn = C->dim(1);
  Tensor Y(DType::F32, {M, N});
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(A.data<float>()[ta ? k * M + m : m * K + k]) *
               B.data<float>()[tb ? n * K + k : k * N + n];
      double v = alpha * acc;
      if (C) v += beta * C->data<float>()[(cm == 1 ? 0 : m) * cn + (cn == 1 ? 0 : n)];
      Y.data<float>()[m * N + n] = static_cast<float>(v);
    }
  return Y;
}

TEST(Gemm, TransposesAlphaBetaBroadcastC) {
  const int64_t M = 3, K = 5, N = 4;
  Tensor At = random_f32({K, M}, 1), Bt = random_f32({N, K}, 2);
  for (Shape cs : {Shape{1, N}, Shape{M, 1}, Shape{}, Shape{N}, Shape{M, N}}) {
    Tensor C = random_f32(cs, 3);
    Tensor want = gemm_ref(At, Bt, &C, true, true, 0.5f, 2.f);
    for (bool const_b : {true, false}) {
      SCOPED_TRACE("C " + shape_str(cs) + (const_b ? " constant B" : " run-time B"));
      OneNodeModel m("Gemm");
      m.attr_i("transA", 1).attr_i("transB", 1).attr_f("alpha", 0.5f).attr_f("beta", 2.f);
      m.input("A", At);
      TensorMap feeds{{"A", At}};
      if (const_b) {
        m.init("B", Bt).init("C", C);
      } else {
        m.input("B", Bt).input("C", C);
        feeds["B"] = Bt, feeds["C"] = C;
      }
      m.output("Y", DType::F32);
      OnnxGraph g = m.graph();
      Session s(g);
      expect_tensor_near(s.run(feeds).at("Y"), want, 1e-5, 1e-5);
    }
  }
}

TEST(Gemm, FullyConnectedBatchChange) {
  Tensor B = random_f32({64, 10}, 4), C = random_f32({10}, 5);
  OneNodeModel m("Gemm");
  Tensor a1 = random_f32({1, 64}, 6), a5 = random_f32({5, 64}, 7);
  m.input("A", a1).init("B", B).init("C", C).output("Y", DType::F32);
  OnnxGraph g = m.graph();
  Session s(g);
  for (const Tensor* a : {&a1, &a5, &a1}) {
    SCOPED_TRACE(shape_str(a->shape()));
    expect_tensor_near(s.run({{"A", *a}}).at("Y"), gemm_ref(*a, B, &C, false, false, 1.f, 1.f), 1e-5, 1e-5);
  }
}

TEST(Gemm, NoBiasAndTransA) {
  Tensor At = random_f32({6, 2}, 8), B = random_f32({6, 3}, 9);
  OneNodeModel m("Gemm");
  m.attr_i("transA", 1).attr_f("beta", 0.25f);
  m.input("A", At).input("B", B).output("Y", DType::F32);
  OnnxGraph g = m.graph();
  Session s(g);
  expect_tensor_near(s.run({{"A", At}, {"B", B}}).at("Y"), gemm_ref(At, B, nullptr, true, false, 1.f, 0.f), 1e-5, 1e-5);
}

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
