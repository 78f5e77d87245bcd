// MatMulGrad (matmul_grad.h): the two products of each backward on their own MatMulKernel,
// with the transposes expressed as strides, and the sums over broadcast operands.
#include "runtime/ops/matmul_grad.h"

#include <algorithm>

#include "runtime/ops/grad_util.h"
#include "runtime/ops/matmul_shape.h"

namespace dpl {

using dnn::Dims;

void MatMulGrad::init(const std::string& op_name, float alpha) {
  name_ = op_name;
  MatMulParams p;
  p.op_name = op_name + " backward";
  p.alpha = alpha;
  da_.init(p, nullptr);
  db_.init(p, nullptr);
}

void MatMulGrad::gemm(const GradArgs& args, float beta, bool ta, bool tb) {
  const bool wa = grad::wants(args, 0), wb = grad::wants(args, 1), wc = grad::wants(args, 2);
  if (!wa && !wb && !wc) return;
  const Tensor& A = grad::float_input(args, 0, name_);
  const Tensor& B = grad::float_input(args, 1, name_);
  const Tensor* dy = grad::output_grad(args, 0, name_);
  const int64_t M = ta ? A.dim(1) : A.dim(0), K = ta ? A.dim(0) : A.dim(1);
  const int64_t N = tb ? B.dim(0) : B.dim(1);
  const bool zero = !dy || dy->numel() == 0 || K == 0;
  if (wa) {
    Tensor dA = Tensor::zeros(DType::F32, A.shape());
    if (!zero) {
      // B' = op(B) is [K, N]; its dims/strides as a view of B.
      const Dims bp_strides = tb ? Dims{1, K} : Dims{N, 1};
      if (!ta)  // dA [M, K] = dY [M, N] * B'^T [N, K]
        da_.run(*dy, {M, N}, {N, 1}, B, {N, K}, {bp_strides[1], bp_strides[0]}, nullptr, {}, dA, {M, K});
      else  // dA [K, M] = B' [K, N] * dY^T [N, M]
        da_.run(B, {K, N}, bp_strides, *dy, {N, M}, {1, N}, nullptr, {}, dA, {K, M});
    }
    args.grad_inputs[0] = dA;
  }
  if (wb) {
    Tensor dB = Tensor::zeros(DType::F32, B.shape());
    if (!zero) {
      // A' = op(A) is [M, K].
      const Dims ap_strides = ta ? Dims{1, M} : Dims{K, 1};
      if (!tb)  // dB [K, N] = A'^T [K, M] * dY [M, N]
        db_.run(A, {K, M}, {ap_strides[1], ap_strides[0]}, *dy, {M, N}, {N, 1}, nullptr, {}, dB, {K, N});
      else  // dB [N, K] = dY^T [N, M] * A' [M, K]
        db_.run(*dy, {N, M}, {1, N}, A, {M, K}, ap_strides, nullptr, {}, dB, {N, K});
    }
    args.grad_inputs[1] = dB;
  }
  if (wc) {
    const Tensor& C = grad::float_input(args, 2, name_);
    Tensor dC = Tensor::zeros(DType::F32, C.shape());
    if (dy && beta != 0.f) {
      dC = grad::reduce_to_shape(*dy, C.shape()).clone();
      float* p = dC.data<float>();
      for (int64_t i = 0; i < dC.numel(); ++i) p[i] *= beta;
    }
    args.grad_inputs[2] = dC;
  }
}

namespace {

// dims with the last two swapped, and the strides of that view of a dense tensor of dims.
void transposed_view(const Dims& dims, Dims& t_dims, Dims& t_strides) {
  t_strides = dense_strides(dims);
  t_dims = dims;
  const size_t r = dims.size();
  std::swap(t_dims[r - 1], t_dims[r - 2]);
  std::swap(t_strides[r - 1], t_strides[r - 2]);
}

// The shape of dims with the last two replaced by (rows, cols).
Shape with_matrix(const Dims& batch_from, int64_t rows, int64_t cols) {
  Shape s(batch_from.begin(), batch_from.end() - 2);
  s.push_back(rows);
  s.push_back(cols);
  return s;
}

}  // namespace

void MatMulGrad::matmul(const GradArgs& args) {
  const bool wa = grad::wants(args, 0), wb = grad::wants(args, 1);
  if (!wa && !wb) return;
  const Tensor& A = grad::float_input(args, 0, name_);
  const Tensor& B = grad::float_input(args, 1, name_);
  const Tensor* dy = grad::output_grad(args, 0, name_);
  const MatMulShape s = matmul_shape(name_, A.shape(), B.shape());
  const bool zero = !dy || dy->numel() == 0 || s.K == 0;
  const Dims& yd = s.y_dims;
  if (wa) {
    Tensor dA = Tensor::zeros(DType::F32, A.shape());
    if (!zero) {
      // dA = dY * B^T over the output's batch, then summed over A's broadcast batch dims.
      Dims bt, bt_strides;
      transposed_view(s.b_dims, bt, bt_strides);
      const Shape full = with_matrix(yd, yd[yd.size() - 2], s.K);
      Tensor g(DType::F32, full);
      da_.run(*dy, yd, dense_strides(yd), B, bt, bt_strides, nullptr, {}, g, dnn::to_dims(full));
      dA = grad::reduce_to_shape(g, Shape(s.a_dims.begin(), s.a_dims.end())).reshaped(A.shape());
    }
    args.grad_inputs[0] = dA;
  }
  if (wb) {
    Tensor dB = Tensor::zeros(DType::F32, B.shape());
    if (!zero) {
      // dB = A^T * dY (A's folded batch, if any, is summed by the product itself).
      Dims at, at_strides;
      transposed_view(s.a_dims, at, at_strides);
      const Shape full = with_matrix(yd, s.K, s.N);
      Tensor g(DType::F32, full);
      db_.run(A, at, at_strides, *dy, yd, dense_strides(yd), nullptr, {}, g, dnn::to_dims(full));
      dB = grad::reduce_to_shape(g, Shape(s.b_dims.begin(), s.b_dims.end())).reshaped(B.shape());
    }
    args.grad_inputs[1] = dB;
  }
}

}  // namespace dpl
