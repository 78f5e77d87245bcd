// Matrix multiplication on oneDNN's matmul primitive, shared by Gemm, MatMul, QLinearMatMul
// and MatMulInteger.
//
//   Y[b..., m, n] = alpha * sum_k A[b..., m, k] * B[b..., k, n]  (+ C broadcast)
//
// A and B are described by dims and element strides (so Gemm's transA/transB are views, not
// copies); batch dims of size 1 broadcast against the other operand (numpy rules after the
// caller pads ranks to match). Y is dense row-major. A constant B is reordered once into the
// layout oneDNN prefers (format_tag::any) per primitive; primitives are cached per shapes
// (a few entries, LRU), so a batch change makes a new one.
#pragma once
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/dnnl_util.h"
#include "core/tensor.h"

namespace dpl {

struct MatMulParams {
  DType a_type = DType::F32, b_type = DType::F32, y_type = DType::F32;
  float alpha = 1.f;
  // C (float only): added after the product, broadcast over dims of size 1 (same rank as Y).
  // As oneDNN's bias when alpha is 1, else as a binary-add post-op (alpha applies first).
  bool has_c = false;
  // Integer only: run-time zero point of A.
  bool a_zero_point = false;
  std::string op_name = "MatMul";
};

class MatMulKernel {
 public:
  struct Entry;
  MatMulKernel();
  ~MatMulKernel();
  MatMulKernel(const MatMulKernel&) = delete;
  MatMulKernel& operator=(const MatMulKernel&) = delete;

  // const_b: B when it is a constant (its layout given by b_dims/b_strides at run()).
  void init(MatMulParams p, const Tensor* const_b);
  const MatMulParams& params() const { return p_; }

  // y must be allocated with a dense shape whose dims equal y_dims. c: same rank as y_dims,
  // dense, float, each dim 1 or equal (nullptr when !has_c). a_zp: A's zero point.
  void run(const Tensor& a, const dnn::Dims& a_dims, const dnn::Dims& a_strides, const Tensor& b,
           const dnn::Dims& b_dims, const dnn::Dims& b_strides, const Tensor* c, const dnn::Dims& c_dims, Tensor& y,
           const dnn::Dims& y_dims, int32_t a_zp = 0) {
    run_raw(a.raw(), a_dims, a_strides, b.raw(), b_dims, b_strides, c ? c->raw() : nullptr, c_dims, y.raw(), y_dims,
            a_zp);
  }
  // The same on raw buffers (b is ignored when B is constant).
  void run_raw(const void* a, const dnn::Dims& a_dims, const dnn::Dims& a_strides, const void* b,
               const dnn::Dims& b_dims, const dnn::Dims& b_strides, const void* c, const dnn::Dims& c_dims, void* y,
               const dnn::Dims& y_dims, int32_t a_zp = 0);

 private:
  MatMulParams p_;
  Tensor const_b_;
  bool has_const_b_ = false;
  std::vector<std::unique_ptr<Entry>> cache_;
};

// Row-major strides of dims.
dnn::Dims dense_strides(const dnn::Dims& dims);

// The element types Gemm and MatMul compute with a reference loop instead of this kernel:
// calls f(T{}) for double and the 32/64-bit integers; throws naming `op` for the others.
template <typename F>
void dispatch_reference_type(const std::string& op, DType dt, F&& f) {
  dispatch_dtype(dt, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, double> || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                  std::is_same_v<T, uint32_t> || std::is_same_v<T, uint64_t>) {
      f(t);
    } else {
      fail("{}: element type {} is not supported", op, dtype_name(dt));
    }
  });
}

}  // namespace dpl
