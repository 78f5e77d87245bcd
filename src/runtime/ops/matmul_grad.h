// Backward of Gemm and MatMul on oneDNN's matmul (docs/training.md): dL/dA = dL/dY * B^T
// and dL/dB = A^T * dL/dY, the transposes as strided views (no copies), each product on a
// MatMulKernel of its own (primitives cached per shape, as the forward's). Operands that
// were broadcast (MatMul batch dims, Gemm's C) get their gradient summed back.
#pragma once
#include <string>

#include "runtime/op.h"
#include "runtime/ops/matmul_kernel.h"

namespace dpl {

class MatMulGrad {
 public:
  // alpha: Gemm's (1 for MatMul); op_name for errors.
  void init(const std::string& op_name, float alpha = 1.f);
  // Gemm: Y = alpha * op(A) * op(B) + beta * C.
  void gemm(const GradArgs& args, float beta, bool trans_a, bool trans_b);
  // MatMul: numpy matmul semantics (runtime/ops/matmul_shape.h).
  void matmul(const GradArgs& args);

 private:
  std::string name_;
  MatMulKernel da_, db_;
};

}  // namespace dpl
