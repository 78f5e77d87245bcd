// MatMul (opset 1-13): numpy matmul semantics. 1-D operands are promoted (A: [1, K], B:
// [K, 1]) and the promoted axis removed from the result; batch dims broadcast. Float32 on
// oneDNN (a constant B is packed once; when B has no batch dims, A's batch is folded into
// M so the whole product is one 2-D matmul); double and 32/64-bit integers by a reference
// loop (integers wrap around on overflow, as numpy's).
#include <algorithm>
#include <type_traits>

#include "runtime/op_registry.h"
#include "runtime/ops/matmul_grad.h"
#include "runtime/ops/matmul_kernel.h"
#include "runtime/ops/matmul_shape.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

using dnn::Dims;

template <typename T>
void matmul_ref(const Tensor& A, const Tensor& B, Tensor& Y, const MatMulShape& s) {
  const T* a = A.data<T>();
  const T* b = B.data<T>();
  T* y = Y.data<T>();
  const int64_t M = s.M, K = s.K, N = s.N;
  parallel_for(
      s.batch * M,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t bi = r / M, m = r % M;
          const T* ar = a + s.a_batch_offset(bi) + m * K;
          const T* bm = b + s.b_batch_offset(bi);
          T* yr = y + r * N;
          for (int64_t n = 0; n < N; ++n) {
            if constexpr (std::is_integral_v<T>) {
              // Integers wrap around as numpy's do: signed overflow would be undefined
              // behaviour (values of 2^57 in a folded shape computation: fuzz_model).
              using U = std::make_unsigned_t<T>;
              U acc = 0;
              for (int64_t k = 0; k < K; ++k) acc += static_cast<U>(ar[k]) * static_cast<U>(bm[k * N + n]);
              yr[n] = static_cast<T>(acc);
            } else {
              T acc = 0;
              for (int64_t k = 0; k < K; ++k) acc += ar[k] * bm[k * N + n];
              yr[n] = acc;
            }
          }
        }
      },
      16);
}

class MatMulOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = "MatMul '" + node.name + "'";
    const Tensor* b = node.constant(1);
    MatMulParams p;
    p.op_name = name_;
    if (b && b->dtype() == DType::F32) {
      const_b_ = *b;
      b_const_ = true;
    }
    kernel_.init(p, b_const_ ? &const_b_ : nullptr);
    grad_.init(name_);
  }

  bool has_backward() const override { return true; }  // matmul_grad.h
  void backward(OpContext&, const GradArgs& args) override { grad_.matmul(args); }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& A = *in[0];
    const Tensor& B = *in[1];
    DPL_CHECK(A.dtype() == B.dtype(), "{}: A is {} but B is {}", name_, dtype_name(A.dtype()), dtype_name(B.dtype()));
    MatMulShape s = matmul_shape(name_, A.shape(), B.shape());
    Tensor Y(A.dtype(), s.y_shape);
    out[0] = Y;
    if (Y.numel() == 0) return;
    if (A.dtype() != DType::F32) {
      dispatch_reference_type(name_, A.dtype(), [&](auto t) { matmul_ref<decltype(t)>(A, B, Y, s); });
      return;
    }
    if (s.K == 0) {
      std::fill_n(Y.data<float>(), Y.numel(), 0.f);
      return;
    }
    kernel_.run(A, s.a_dims, dense_strides(s.a_dims), B, s.b_dims, dense_strides(s.b_dims), nullptr, {}, Y, s.y_dims);
  }

 private:
  std::string name_;
  bool b_const_ = false;
  Tensor const_b_;
  MatMulKernel kernel_;
  MatMulGrad grad_;
};

}  // namespace

DPL_REGISTER_OP("MatMul", MatMulOp);

}  // namespace dpl
