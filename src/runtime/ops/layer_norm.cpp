// LayerNormalization (opset 17): X is viewed as [prod(shape[:axis]), prod(shape[axis:])];
// every row is normalized by its mean and variance (accumulated in double), then
// multiplied by Scale and shifted by B (both broadcast onto shape[axis:]). The optional
// Mean and InvStdDev outputs have shape shape[:axis] + [1] * (rank - axis).
#include <cmath>
#include <vector>

#include "runtime/op_registry.h"
#include "runtime/ops/row_moments.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

// Values of `t` broadcast (numpy rules, right-aligned) onto `shape`, as a flat vector.
std::vector<double> broadcast_to(const Tensor& t, const Shape& shape, const std::string& what) {
  const int r = static_cast<int>(shape.size()), tr = t.rank();
  DPL_CHECK(tr <= r, "LayerNormalization: {} of shape {} does not broadcast to {}", what, shape_str(t.shape()),
            shape_str(shape));
  std::vector<int64_t> tstride(r, 0);
  {
    int64_t st = 1;
    for (int i = tr - 1; i >= 0; --i) {
      const int64_t td = t.shape()[i], sd = shape[r - tr + i];
      DPL_CHECK(td == sd || td == 1, "LayerNormalization: {} of shape {} does not broadcast to {}", what,
                shape_str(t.shape()), shape_str(shape));
      tstride[r - tr + i] = td == 1 ? 0 : st;
      st *= td;
    }
  }
  const int64_t n = shape_numel(shape);
  std::vector<double> v(n);
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int k = 0; k < r; ++k) off += idx[k] * tstride[k];
    v[i] = t.at_f64(off);
    for (int k = r - 1; k >= 0; --k) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return v;
}

template <typename T, typename S>
void layer_norm(const T* x, T* y, S* mean_out, S* inv_out, int64_t rows, int64_t cols, const std::vector<T>& w,
                const std::vector<T>& b, double eps) {
  parallel_for(
      rows,
      [&](int64_t beg, int64_t end) {
        for (int64_t r = beg; r < end; ++r) {
          const T* xp = x + r * cols;
          T* yp = y + r * cols;
          const auto [mean, var] = row_moments(xp, cols);
          const double inv = 1.0 / std::sqrt(var + eps);
          if (mean_out) mean_out[r] = static_cast<S>(mean);
          if (inv_out) inv_out[r] = static_cast<S>(inv);
          const T mt = static_cast<T>(mean), it = static_cast<T>(inv);
          const T* wp = w.data();
          const T* bp = b.data();
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j) yp[j] = (xp[j] - mt) * it * wp[j] + bp[j];
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)));
}

class LayerNormOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    axis_ = node.attrs.get_int("axis", -1);
    eps_ = node.attrs.get_float("epsilon", 1e-5f);
    stash_ = node.attrs.get_int("stash_type", 1);
    DPL_CHECK(node.has_input(1), "LayerNormalization '{}': input Scale is required", name_);
    want_mean_ = node.outputs.size() > 1 && !node.outputs[1].empty();
    want_inv_ = node.outputs.size() > 2 && !node.outputs[2].empty();
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const int r = x.rank();
    int64_t axis = axis_ < 0 ? axis_ + r : axis_;
    DPL_CHECK(axis >= 0 && axis < r, "LayerNormalization '{}': axis {} out of range for rank {}", name_, axis_, r);
    int64_t rows = 1;
    for (int i = 0; i < axis; ++i) rows *= x.shape()[i];
    const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
    const int64_t cols = shape_numel(norm_shape);
    Shape stat_shape = x.shape();
    for (int i = static_cast<int>(axis); i < r; ++i) stat_shape[i] = 1;
    const DType stat_type = stash_ == 1 ? DType::F32 : x.dtype();
    out[0] = Tensor(x.dtype(), x.shape());
    if (want_mean_) out[1] = Tensor(stat_type, stat_shape);
    if (want_inv_) out[2] = Tensor(stat_type, stat_shape);
    const auto w = broadcast_to(*in[1], norm_shape, "Scale");
    const auto b = in.size() > 2 && in[2] ? broadcast_to(*in[2], norm_shape, "B") : std::vector<double>(cols, 0.0);
    auto run = [&](auto tag) {
      using T = decltype(tag);
      const std::vector<T> wt(w.begin(), w.end()), bt(b.begin(), b.end());
      auto with_stats = [&](auto stag) {
        using S = decltype(stag);
        layer_norm<T, S>(x.data<T>(), out[0].data<T>(), want_mean_ ? out[1].data<S>() : nullptr,
                         want_inv_ ? out[2].data<S>() : nullptr, rows, cols, wt, bt, eps_);
      };
      if (stat_type == DType::F32) with_stats(float{});
      else with_stats(T{});
    };
    if (x.dtype() == DType::F32) run(float{});
    else if (x.dtype() == DType::F64) run(double{});
    else fail("LayerNormalization '{}': element type {} is not supported (float, double)", name_,
              dtype_name(x.dtype()));
  }

 private:
  std::string name_;
  int64_t axis_ = -1, stash_ = 1;
  float eps_ = 1e-5f;
  bool want_mean_ = false, want_inv_ = false;
};

}  // namespace

DPL_REGISTER_OP("LayerNormalization", LayerNormOp);

}  // namespace dpl
