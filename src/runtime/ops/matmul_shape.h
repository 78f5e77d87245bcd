// numpy matmul shape rules, shared by MatMul, MatMulInteger and QLinearMatMul: 1-D
// promotion, batch broadcasting, and the oneDNN dims of the product.
#pragma once
#include <algorithm>
#include <string>

#include "runtime/dnnl_util.h"
#include "core/tensor.h"

namespace dpl {

struct MatMulShape {
  int64_t M = 0, K = 0, N = 0;
  int64_t batch = 1;  // number of output matrices
  Shape y_shape;      // ONNX output shape
  // Equal-rank oneDNN dims (>= 2). When B has no batch (all ones), A's batch is folded into M.
  dnn::Dims a_dims, b_dims, y_dims;
  // Padded batch dims for the reference path.
  Shape out_batch, a_batch, b_batch;

  // Element offset of the A / B matrix used for output matrix `bi`.
  int64_t a_batch_offset(int64_t bi) const { return batch_offset(bi, a_batch) * M * K; }
  int64_t b_batch_offset(int64_t bi) const { return batch_offset(bi, b_batch) * K * N; }

 private:
  int64_t batch_offset(int64_t bi, const Shape& in) const {
    int64_t off = 0, mul = 1;
    for (size_t d = out_batch.size(); d-- > 0;) {
      const int64_t i = bi % out_batch[d];
      bi /= out_batch[d];
      if (in[d] != 1) off += i * mul;
      mul *= in[d];
    }
    return off;
  }
};

inline MatMulShape matmul_shape(const std::string& op, const Shape& a_in, const Shape& b_in) {
  DPL_CHECK(!a_in.empty() && !b_in.empty(), "{}: inputs must have rank >= 1, got {} and {}", op, shape_str(a_in),
            shape_str(b_in));
  MatMulShape s;
  Shape a = a_in, b = b_in;
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  s.M = a[a.size() - 2];
  s.K = a.back();
  s.N = b.back();
  DPL_CHECK(b[b.size() - 2] == s.K, "{}: inner dimensions differ: A {} and B {}", op, shape_str(a_in), shape_str(b_in));
  const size_t r = std::max(a.size(), b.size()) - 2;
  s.a_batch.assign(r - (a.size() - 2), 1);
  s.a_batch.insert(s.a_batch.end(), a.begin(), a.end() - 2);
  s.b_batch.assign(r - (b.size() - 2), 1);
  s.b_batch.insert(s.b_batch.end(), b.begin(), b.end() - 2);
  s.out_batch.resize(r);
  for (size_t d = 0; d < r; ++d) {
    const int64_t x = s.a_batch[d], y = s.b_batch[d];
    DPL_CHECK(x == y || x == 1 || y == 1, "{}: batch dimensions of A {} and B {} do not broadcast", op,
              shape_str(a_in), shape_str(b_in));
    s.out_batch[d] = x == 1 ? y : x;
    s.batch *= s.out_batch[d];
  }
  s.y_shape = s.out_batch;
  if (!a1) s.y_shape.push_back(s.M);
  if (!b1) s.y_shape.push_back(s.N);

  const bool b_flat = std::all_of(s.b_batch.begin(), s.b_batch.end(), [](int64_t d) { return d == 1; });
  if (b_flat) {
    s.a_dims = {s.batch * s.M, s.K};
    s.b_dims = {s.K, s.N};
    s.y_dims = {s.batch * s.M, s.N};
  } else {
    DPL_CHECK(r + 2 <= 12, "{}: rank {} is above oneDNN's limit of 12", op, r + 2);
    s.a_dims.assign(s.a_batch.begin(), s.a_batch.end());
    s.b_dims.assign(s.b_batch.begin(), s.b_batch.end());
    s.y_dims.assign(s.out_batch.begin(), s.out_batch.end());
    s.a_dims.insert(s.a_dims.end(), {s.M, s.K});
    s.b_dims.insert(s.b_dims.end(), {s.K, s.N});
    s.y_dims.insert(s.y_dims.end(), {s.M, s.N});
  }
  return s;
}

}  // namespace dpl
