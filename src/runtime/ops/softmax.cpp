// Softmax, LogSoftmax and Hardmax.
// Opset >= 13: along one axis (default -1): the tensor is [outer, len, inner].
// Opset < 13: the tensor is flattened to 2-D at `axis` (default 1) and every row of
// prod(shape[axis:]) values is normalized: the same code with len = that product, inner = 1.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/op_registry.h"
#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/elementwise.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

enum class Kind { Softmax, LogSoftmax, Hardmax };

// exp without libm calls for float (vectorizable, ~1.5e-7 relative error).
template <typename T>
inline T exp_t(T v) {
  if constexpr (std::is_same_v<T, float>) return ew::exp_fast(v);
  else return std::exp(v);
}

// Max and sum of a row with 8 partial results each, so the loops vectorize.
template <typename T>
inline T row_max(const T* x, int64_t n) {
  T p[8];
  for (auto& v : p) v = -std::numeric_limits<T>::infinity();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int t = 0; t < 8; ++t) p[t] = x[j + t] > p[t] ? x[j + t] : p[t];
  for (; j < n; ++j) p[0] = x[j] > p[0] ? x[j] : p[0];
  for (int t = 1; t < 8; ++t) p[0] = p[t] > p[0] ? p[t] : p[0];
  return p[0];
}

template <typename T>
inline T row_sum(const T* x, int64_t n) {
  T p[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int t = 0; t < 8; ++t) p[t] += x[j + t];
  for (; j < n; ++j) p[0] += x[j];
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

template <typename T, Kind K>
void row_kernel(const T* x, T* y, int64_t len) {
  if constexpr (K == Kind::Hardmax) {
    int64_t best = 0;
    for (int64_t j = 1; j < len; ++j)
      if (x[j] > x[best]) best = j;
    for (int64_t j = 0; j < len; ++j) y[j] = T(0);
    if (len > 0) y[best] = T(1);
  } else {
    const T m = row_max(x, len);
    for (int64_t j = 0; j < len; ++j) y[j] = exp_t(x[j] - m);
    const T sum = row_sum(y, len);
    if constexpr (K == Kind::Softmax) {
      const T inv = T(1) / sum;
      for (int64_t j = 0; j < len; ++j) y[j] *= inv;
    } else {
      // (x - m) - log(sum): subtracting m first keeps large inputs exact.
      const T ls = std::log(sum);
      for (int64_t j = 0; j < len; ++j) y[j] = (x[j] - m) - ls;
    }
  }
}

// Rows of L < 8 values (a segmentation network's few classes per pixel), 16 rows at a
// time: transposed into [L][16] so every step is one vector operation over 16 rows, where
// row_kernel's loops of L values would not vectorize. The same operations in the same order
// as row_kernel (its row_sum adds a row of fewer than 8 values left to right): same bits.
template <typename T, Kind K, int L>
void short_rows(const T* x, T* y, int64_t rows) {
  constexpr int R = 16;
  for (int64_t r0 = 0; r0 < rows; r0 += R) {
    const int n = static_cast<int>(std::min<int64_t>(R, rows - r0));
    const T* xb = x + r0 * L;
    T* yb = y + r0 * L;
    T t[L][R], e[L][R], m[R], s[R];
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < L; ++j) t[j][r] = r < n ? xb[r * L + j] : T(0);
    for (int r = 0; r < R; ++r) m[r] = -std::numeric_limits<T>::infinity();  // as row_max: NaN never wins
    for (int j = 0; j < L; ++j)
      for (int r = 0; r < R; ++r) m[r] = t[j][r] > m[r] ? t[j][r] : m[r];
    for (int r = 0; r < R; ++r) s[r] = T(0);
    for (int j = 0; j < L; ++j)
      for (int r = 0; r < R; ++r) {
        e[j][r] = exp_t(t[j][r] - m[r]);
        s[r] += e[j][r];
      }
    if constexpr (K == Kind::Softmax) {
      for (int r = 0; r < R; ++r) s[r] = T(1) / s[r];
      for (int j = 0; j < L; ++j)
        for (int r = 0; r < R; ++r) e[j][r] *= s[r];
    } else {
      for (int r = 0; r < R; ++r) s[r] = std::log(s[r]);
      for (int j = 0; j < L; ++j)
        for (int r = 0; r < R; ++r) e[j][r] = (t[j][r] - m[r]) - s[r];
    }
    for (int r = 0; r < n; ++r)
      for (int j = 0; j < L; ++j) yb[r * L + j] = e[j][r];
  }
}

// short_rows for the row length `len` (2..7); false for other lengths.
template <typename T, Kind K>
bool run_short_rows(const T* x, T* y, int64_t rows, int64_t len) {
  if constexpr (K == Kind::Hardmax) {
    return false;
  } else {
    switch (len) {
      case 2: short_rows<T, K, 2>(x, y, rows); return true;
      case 3: short_rows<T, K, 3>(x, y, rows); return true;
      case 4: short_rows<T, K, 4>(x, y, rows); return true;
      case 5: short_rows<T, K, 5>(x, y, rows); return true;
      case 6: short_rows<T, K, 6>(x, y, rows); return true;
      case 7: short_rows<T, K, 7>(x, y, rows); return true;
      default: return false;
    }
  }
}

// One outer block [len, inner] with inner > 1: per-position reductions over rows.
template <typename T, Kind K>
void block_kernel(const T* x, T* y, int64_t len, int64_t inner, std::vector<T>& m, std::vector<T>& s,
                  std::vector<int64_t>& best) {
  if constexpr (K == Kind::Hardmax) {
    std::fill(best.begin(), best.end(), 0);
    for (int64_t j = 1; j < len; ++j)
      for (int64_t i = 0; i < inner; ++i)
        if (x[j * inner + i] > x[best[i] * inner + i]) best[i] = j;
    std::fill_n(y, len * inner, T(0));
    if (len > 0)
      for (int64_t i = 0; i < inner; ++i) y[best[i] * inner + i] = T(1);
  } else {
    std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
    for (int64_t j = 0; j < len; ++j)
      for (int64_t i = 0; i < inner; ++i) m[i] = x[j * inner + i] > m[i] ? x[j * inner + i] : m[i];
    std::fill(s.begin(), s.end(), T(0));
    for (int64_t j = 0; j < len; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        const T e = exp_t(x[j * inner + i] - m[i]);
        if constexpr (K == Kind::Softmax) y[j * inner + i] = e;
        s[i] += e;
      }
    if constexpr (K == Kind::Softmax) {
      for (int64_t i = 0; i < inner; ++i) s[i] = T(1) / s[i];
      for (int64_t j = 0; j < len; ++j)
        for (int64_t i = 0; i < inner; ++i) y[j * inner + i] *= s[i];
    } else {
      for (int64_t i = 0; i < inner; ++i) s[i] = std::log(s[i]);
      for (int64_t j = 0; j < len; ++j)
        for (int64_t i = 0; i < inner; ++i) y[j * inner + i] = (x[j * inner + i] - m[i]) - s[i];
    }
  }
}

template <typename T, Kind K>
void run(const T* x, T* y, int64_t outer, int64_t len, int64_t inner) {
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, len * inner));
  parallel_for(
      outer,
      [&](int64_t b, int64_t e) {
        if (inner == 1) {
          if (run_short_rows<T, K>(x + b * len, y + b * len, e - b, len)) return;
          for (int64_t o = b; o < e; ++o) row_kernel<T, K>(x + o * len, y + o * len, len);
        } else {
          std::vector<T> m(inner), s(inner);
          std::vector<int64_t> best(inner);
          for (int64_t o = b; o < e; ++o)
            block_kernel<T, K>(x + o * len * inner, y + o * len * inner, len, inner, m, s, best);
        }
      },
      grain);
}

template <Kind K>
class SoftmaxOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    op_ = node.op_type;
    legacy_ = node.opset < 13;
    axis_ = node.attrs.get_int("axis", legacy_ ? 1 : -1);
  }

  bool has_backward() const override { return K != Kind::Hardmax; }  // grad_kernels.h
  void backward(OpContext& ctx, const GradArgs& args) override {
    if constexpr (K == Kind::Hardmax) {
      Op::backward(ctx, args);
    } else {
      DPL_CHECK(!args.inputs.empty() && args.inputs[0], "{} '{}' backward: input missing", op_, name_);
      int64_t outer, len, inner;
      layout(*args.inputs[0], outer, len, inner);
      grad::softmax(args, K == Kind::LogSoftmax, outer, len, inner, op_ + " '" + name_ + "'");
    }
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const Shape& sh = x.shape();
    int64_t outer, len, inner;
    layout(x, outer, len, inner);
    out[0] = Tensor(x.dtype(), sh);
    if (x.dtype() == DType::F32) run<float, K>(x.data<float>(), out[0].data<float>(), outer, len, inner);
    else if (x.dtype() == DType::F64) run<double, K>(x.data<double>(), out[0].data<double>(), outer, len, inner);
    else fail("{} '{}': element type {} is not supported (float, double)", op_, name_, dtype_name(x.dtype()));
  }

 private:
  // x as [outer, len, inner] with the normalized values at stride inner.
  void layout(const Tensor& x, int64_t& outer, int64_t& len, int64_t& inner) const {
    const int r = std::max(1, x.rank());
    const int64_t axis = axis_ < 0 ? axis_ + r : axis_;
    DPL_CHECK(axis >= 0 && axis < r, "{} '{}': axis {} out of range for rank {}", op_, name_, axis_, x.rank());
    const Shape& sh = x.shape();
    auto dim = [&](int i) { return x.rank() == 0 ? int64_t{1} : sh[i]; };
    outer = 1, len = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= dim(i);
    if (legacy_) {
      for (int i = static_cast<int>(axis); i < r; ++i) len *= dim(i);
    } else {
      len = dim(static_cast<int>(axis));
      for (int i = static_cast<int>(axis) + 1; i < r; ++i) inner *= dim(i);
    }
  }

  std::string name_, op_;
  bool legacy_ = false;
  int64_t axis_ = -1;
};

}  // namespace

DPL_REGISTER_OP("Softmax", SoftmaxOp<Kind::Softmax>);
DPL_REGISTER_OP("LogSoftmax", SoftmaxOp<Kind::LogSoftmax>);
DPL_REGISTER_OP("Hardmax", SoftmaxOp<Kind::Hardmax>);

}  // namespace dpl
