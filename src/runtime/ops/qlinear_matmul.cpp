// QLinearMatMul (opset 10) and MatMulInteger (opset 10), numpy matmul shapes.
//
//   acc[m, n] = sum_k (a[m, k] - a_zp[m]) * (b[k, n] - b_zp[n])      (int32)
//   QLinearMatMul: y = saturate(round_half_even(float(acc) * (a_scale * b_scale[n] / y_scale)) + y_zp)
//
// b - b_zp is formed once (per call when B is not constant). When the CPU has VNNI,
// oneDNN's int8 matmul computes sum a * b8 exactly, b8 = b - b_zp where that fits in int8,
// else b moved into int8 with b - b_zp = b8 + offset[n] (ShiftedWeights); A's zero point is
// removed afterwards with the column sums of b8, and offset[n] times the row sums of
// a - a_zp added. Otherwise a reference loop runs. Our requantization makes the results
// bit-exact either way.
#include <algorithm>

#include "runtime/dnnl_util.h"
#include "runtime/op_registry.h"
#include "runtime/ops/matmul_kernel.h"
#include "runtime/ops/matmul_shape.h"
#include "runtime/ops/qlinear_common.h"

namespace dpl {
namespace {

template <typename T>
int64_t row_sum(const T* p, int64_t n) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

class IntMatMul {
 public:
  void init(std::string name, const NodeDesc& node, size_t b_index, size_t bzp_index) {
    name_ = std::move(name);
    b_.constant = pack_if_constant(node, b_index, bzp_index, [&](const Tensor& b, const Tensor* bzp) { pack(b, bzp); });
  }

  // Which path ran last: "oneDNN int8", "oneDNN int8 + offset terms" or "reference".
  std::string path() const {
    if (!b_.use_dnnl) return "reference";
    return b_.offset.empty() ? "oneDNN int8" : "oneDNN int8 + offset terms";
  }

  // a_zp: scalar or one value per row of A (nullptr: 0). Returns acc with shape s.y_shape.
  Tensor accumulate(const Tensor& a, const Tensor* azp, const Tensor& b, const Tensor* bzp, MatMulShape& s) {
    DPL_CHECK(a.dtype() == DType::U8 || a.dtype() == DType::I8, "{}: A must be uint8 or int8, got {}", name_,
              dtype_name(a.dtype()));
    DPL_CHECK(b.dtype() == DType::U8 || b.dtype() == DType::I8, "{}: B must be uint8 or int8, got {}", name_,
              dtype_name(b.dtype()));
    s = matmul_shape(name_, a.shape(), b.shape());
    if (azp) check_quant_param(name_, "a_zero_point", *azp, s.M, true);
    if (bzp) check_quant_param(name_, "b_zero_point", *bzp, s.N, true);
    if (!b_.constant) pack(b, bzp);
    Tensor y(DType::I32, s.y_shape);
    if (y.numel() == 0) return y;
    int32_t* yd = y.data<int32_t>();
    const int64_t M = s.M, N = s.N, K = s.K;
    if (K == 0) {
      std::fill_n(yd, y.numel(), 0);
      return y;
    }
    if (b_.use_dnnl) {
      if (b_.kernel_input != a.dtype()) {
        MatMulParams p;
        p.op_name = name_;
        p.a_type = a.dtype();
        p.b_type = DType::I8;
        p.y_type = DType::I32;
        kernel_.init(p, b_.constant ? &b_.w8 : nullptr);
        b_.kernel_input = a.dtype();
      }
      kernel_.run(a, s.a_dims, dense_strides(s.a_dims), b_.w8, s.b_dims, dense_strides(s.b_dims), nullptr, {}, y,
                  s.y_dims);
      // Remove A's zero point: acc -= a_zp[m] * colsum(b8)[n]; add offset[n] * sum_k (a - a_zp).
      if (!b_.offset.empty()) {
        parallel_for(
            s.batch * M,
            [&](int64_t r0, int64_t r1) {
              for (int64_t r = r0; r < r1; ++r) {
                const int64_t bi = r / M, m = r % M;
                const int64_t aoff = s.a_batch_offset(bi) + m * K;
                const int64_t sum = a.dtype() == DType::U8 ? row_sum(a.data<uint8_t>() + aoff, K)
                                                           : row_sum(a.data<int8_t>() + aoff, K);
                const auto rowsum = static_cast<int32_t>(sum - K * int64_t{zp_at(azp, m)});
                int32_t* row = yd + r * N;
                for (int64_t n = 0; n < N; ++n) row[n] += b_.offset[static_cast<size_t>(n)] * rowsum;
              }
            },
            16);
      }
      if (azp) {
        parallel_for(
            s.batch * M,
            [&](int64_t r0, int64_t r1) {
              for (int64_t r = r0; r < r1; ++r) {
                const int64_t bi = r / M, m = r % M;
                const int32_t z = zp_at(azp, m);
                if (z == 0) continue;
                const int32_t* cs = colsum_.data() + s.b_batch_offset(bi) / K;
                int32_t* row = yd + r * N;
                for (int64_t n = 0; n < N; ++n) row[n] -= z * cs[n];
              }
            },
            16);
      }
      return y;
    }
    parallel_for(
        s.batch * M,
        [&](int64_t r0, int64_t r1) {
          std::vector<int32_t> arow(static_cast<size_t>(K));
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t bi = r / M, m = r % M;
            const int64_t aoff = s.a_batch_offset(bi) + m * K;
            const int32_t z = zp_at(azp, m);
            for (int64_t k = 0; k < K; ++k) arow[k] = static_cast<int32_t>(a.at_i64(aoff + k)) - z;
            const int32_t* bm = b_.w32.data() + s.b_batch_offset(bi);
            int32_t* row = yd + r * N;
            for (int64_t n = 0; n < N; ++n) row[n] = 0;
            for (int64_t k = 0; k < K; ++k) {
              const int32_t av = arow[k];
              const int32_t* brow = bm + k * N;
              for (int64_t n = 0; n < N; ++n) row[n] += av * brow[n];
            }
          }
        },
        4);
    return y;
  }

 private:
  // b - b_zp[n] (n the last axis), its int8 copy when it fits, and its column sums.
  void pack(const Tensor& b, const Tensor* bzp) {
    const int64_t N = b.rank() >= 2 ? b.dim(-1) : 1;
    const int64_t K = b.rank() >= 2 ? b.dim(-2) : b.dim(0);
    b_.w32.resize(static_cast<size_t>(b.numel()));
    for (int64_t i = 0; i < b.numel(); ++i) b_.w32[i] = static_cast<int32_t>(b.at_i64(i)) - zp_at(bzp, i % N);
    b_.choose_path(b, N, [N](int64_t i) { return i % N; });
    if (b_.use_dnnl) {
      const int64_t mats = (K > 0 && N > 0) ? b.numel() / (K * N) : 0;
      const int8_t* b8 = b_.w8.data<int8_t>();
      colsum_.assign(static_cast<size_t>(mats * N), 0);
      for (int64_t q = 0; q < mats; ++q)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t n = 0; n < N; ++n) colsum_[q * N + n] += b8[(q * K + k) * N + n];
    }
  }

  std::string name_;
  ShiftedWeights b_;
  std::vector<int32_t> colsum_;  // column sums of b8 (oneDNN path)
  MatMulKernel kernel_;
};

class QLinearMatMulOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = "QLinearMatMul '" + node.name + "'";
    check_qlinear_node(node, name_);
    mm_.init(name_, node, 3, 5);
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const QLinearInputs q = qlinear_inputs(name_, in, "a");
    MatMulShape s;
    Tensor acc = mm_.accumulate(q.x, q.x_zp, q.w, q.w_zp, s);
    check_quant_param(name_, "b_scale", q.w_scale, s.N, true);
    // Per-column scales: channels = N with inner 1; per-tensor: one block.
    const bool per_col = q.w_scale.numel() > 1;
    const int64_t rows = s.N > 0 ? acc.numel() / s.N : 0;
    const int64_t outer = per_col ? rows : 1, channels = per_col ? s.N : 1, inner = per_col ? 1 : acc.numel();
    out[0] = requantize_output(q, acc, outer, channels, inner, nullptr);
  }
  KernelInfo kernel_info() override { return {mm_.path(), {}, {}, {}}; }

 private:
  std::string name_;
  IntMatMul mm_;
};

class MatMulIntegerOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = "MatMulInteger '" + node.name + "'";
    mm_.init(name_, node, 1, 3);
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    MatMulShape s;
    out[0] = mm_.accumulate(*in[0], in.size() > 2 ? in[2] : nullptr, *in[1], in.size() > 3 ? in[3] : nullptr, s);
  }

 private:
  std::string name_;
  IntMatMul mm_;
};

}  // namespace

DPL_REGISTER_OP("QLinearMatMul", QLinearMatMulOp);
DPL_REGISTER_OP("MatMulInteger", MatMulIntegerOp);

}  // namespace dpl
