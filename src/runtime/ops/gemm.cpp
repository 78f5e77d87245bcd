// Gemm (opset 1-13): Y = alpha * op(A) * op(B) + beta * C, with transA/transB and C
// broadcast unidirectionally to (M, N). Float32 on oneDNN's matmul (transposes are strided
// views; a constant B is packed once); double and 32/64-bit integers by a reference loop.
#include <algorithm>

#include "runtime/op_registry.h"
#include "runtime/ops/matmul_grad.h"
#include "runtime/ops/matmul_kernel.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

using dnn::Dims;

template <typename T>
void gemm_ref(const Tensor& A, const Tensor& B, const Tensor* C, Tensor& Y, bool ta, bool tb, float alpha, float beta,
              int64_t M, int64_t K, int64_t N, const Dims& cd) {
  const T* a = A.data<T>();
  const T* b = B.data<T>();
  T* y = Y.data<T>();
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  parallel_for(
      M,
      [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m)
          for (int64_t n = 0; n < N; ++n) {
            Acc acc = 0;
            for (int64_t k = 0; k < K; ++k)
              acc += static_cast<Acc>(a[ta ? k * M + m : m * K + k]) * static_cast<Acc>(b[tb ? n * K + k : k * N + n]);
            double v = static_cast<double>(alpha) * static_cast<double>(acc);
            if (C) {
              const int64_t ci = (cd[0] == 1 ? 0 : m) * cd[1] + (cd[1] == 1 ? 0 : n);
              v += static_cast<double>(beta) * static_cast<double>(C->data<T>()[ci]);
            }
            y[m * N + n] = static_cast<T>(v);
          }
      },
      64);
}

class GemmOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = "Gemm '" + node.name + "'";
    alpha_ = node.attrs.get_float("alpha", 1.f);
    beta_ = node.attrs.get_float("beta", 1.f);
    ta_ = node.attrs.get_int("transA", 0) != 0;
    tb_ = node.attrs.get_int("transB", 0) != 0;
    has_c_ = node.has_input(2) && beta_ != 0.f;
    const Tensor* b = node.constant(1);
    if (b && b->dtype() == DType::F32 && b->rank() == 2) {
      const_b_ = *b;
      b_const_ = true;
    }
    const Tensor* c = has_c_ ? node.constant(2) : nullptr;
    if (c && c->dtype() == DType::F32) {
      c_scaled_ = beta_ == 1.f ? *c : scaled(*c);
      c_const_ = true;
    }
    MatMulParams p;
    p.op_name = name_;
    p.alpha = alpha_;
    p.has_c = has_c_;
    kernel_.init(p, b_const_ ? &const_b_ : nullptr);
    grad_.init(name_, alpha_);
  }

  bool has_backward() const override { return true; }  // matmul_grad.h
  void backward(OpContext&, const GradArgs& args) override { grad_.gemm(args, has_c_ ? beta_ : 0.f, ta_, tb_); }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& A = *in[0];
    const Tensor& B = *in[1];
    const Tensor* C = has_c_ && in.size() > 2 ? in[2] : nullptr;
    DPL_CHECK(A.rank() == 2 && B.rank() == 2, "{}: A and B must be 2-D, got {} and {}", name_, shape_str(A.shape()),
              shape_str(B.shape()));
    DPL_CHECK(A.dtype() == B.dtype(), "{}: A is {} but B is {}", name_, dtype_name(A.dtype()), dtype_name(B.dtype()));
    const int64_t M = ta_ ? A.dim(1) : A.dim(0), K = ta_ ? A.dim(0) : A.dim(1);
    const int64_t Kb = tb_ ? B.dim(1) : B.dim(0), N = tb_ ? B.dim(0) : B.dim(1);
    DPL_CHECK(K == Kb, "{}: inner dimensions differ: A {}{} and B {}{}", name_, shape_str(A.shape()),
              ta_ ? " (transposed)" : "", shape_str(B.shape()), tb_ ? " (transposed)" : "");
    Dims cd{1, 1};
    if (C) {
      DPL_CHECK(C->rank() <= 2, "{}: C must have rank <= 2, got {}", name_, shape_str(C->shape()));
      DPL_CHECK(C->dtype() == A.dtype(), "{}: C is {} but A is {}", name_, dtype_name(C->dtype()),
                dtype_name(A.dtype()));
      if (C->rank() == 1) cd = {1, C->dim(0)};
      if (C->rank() == 2) cd = {C->dim(0), C->dim(1)};
      DPL_CHECK((cd[0] == 1 || cd[0] == M) && (cd[1] == 1 || cd[1] == N),
                "{}: C of shape {} does not broadcast to [{}, {}]", name_, shape_str(C->shape()), M, N);
    }
    Tensor Y(A.dtype(), {M, N});
    out[0] = Y;
    if (Y.numel() == 0) return;
    if (A.dtype() != DType::F32) {
      dispatch_reference_type(name_, A.dtype(), [&](auto t) {
        gemm_ref<decltype(t)>(A, B, C, Y, ta_, tb_, alpha_, beta_, M, K, N, cd);
      });
      return;
    }
    if (K == 0) {
      // Empty product: Y = beta * C (or 0).
      float* y = Y.data<float>();
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n)
          y[m * N + n] = C ? beta_ * C->data<float>()[(cd[0] == 1 ? 0 : m) * cd[1] + (cd[1] == 1 ? 0 : n)] : 0.f;
      return;
    }
    Tensor cs;
    if (C) cs = c_const_ ? c_scaled_ : (beta_ == 1.f ? *C : scaled(*C));
    const Dims a_dims{M, K}, a_strides = ta_ ? Dims{1, M} : Dims{K, 1};
    const Dims b_dims{K, N}, b_strides = tb_ ? Dims{1, K} : Dims{N, 1};
    kernel_.run(A, a_dims, a_strides, B, b_dims, b_strides, C ? &cs : nullptr, cd, Y, Dims{M, N});
  }

 private:
  Tensor scaled(const Tensor& c) const {
    Tensor r(DType::F32, c.shape());
    const float* s = c.data<float>();
    float* d = r.data<float>();
    for (int64_t i = 0; i < c.numel(); ++i) d[i] = beta_ * s[i];
    return r;
  }

  std::string name_;
  float alpha_ = 1.f, beta_ = 1.f;
  bool ta_ = false, tb_ = false, has_c_ = false;
  bool b_const_ = false, c_const_ = false;
  Tensor const_b_, c_scaled_;
  MatMulKernel kernel_;
  MatMulGrad grad_;
};

}  // namespace

DPL_REGISTER_OP("Gemm", GemmOp);

}  // namespace dpl
