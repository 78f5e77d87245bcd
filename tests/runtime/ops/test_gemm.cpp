// Gemm (src/runtime/ops/gemm.cpp) against a reference loop written here: transposes, alpha,
// beta, a broadcast C, and a batch change with constant weights.
#include <gtest/gtest.h>

#include "runtime/op_tester.h"
#include "runtime/ops/dnnl_test_util.h"
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

}  // namespace
}  // namespace dpl::test
