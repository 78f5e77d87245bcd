// Multidirectional (numpy / ONNX) broadcasting, shared by the elementwise kernels and the
// quantization code.
//
// Shapes are right-aligned; a dimension of 1 stretches to the other's size:
//   Shape y = broadcast_shape(a.shape(), b.shape());            // throws dpl::Error on mismatch
//
// Two or three inputs are iterated with a BroadcastPlan. The plan drops size-1 output
// dimensions and merges neighbouring dimensions that every input walks the same way, so
// the common cases become a few long runs over which each input is either contiguous or a
// single repeated value:
//   same shape                         -> one run of numel, all contiguous
//   x op scalar                        -> one run of numel, scalar operand fixed
//   [N,C,H,W] op [C,1,1] / [1,C,1,1]   -> N*C runs of H*W, channel value fixed per run
//   [N,C,H,W] op [N,C,1,1]             -> N*C runs of H*W
//   [N,H,W,C] op [C]                   -> N*H*W runs of C, both contiguous
//
// Most kernels only need the typed helpers, which pick a vectorizable loop per run and
// split the output over threads:
//   Tensor y(DType::F32, broadcast_shape(a.shape(), b.shape()));
//   broadcast_binary<float, float, float>(a, b, y, [](float p, float q) { return p + q; });
//   broadcast_ternary<bool, float, float, float>(c, x, z, y, [](bool s, float p, float q) { return s ? p : q; });
// Per-channel parameters (quantization scales, per-axis zero points) of shape [C] for
// axis 1 of x: s.reshaped(per_axis_shape(x.shape(), 1)) becomes [1,C,1,1] for rank-4 x.
// The functor must be a pure elementwise function (it is called from several threads).
// For raw loops over runs use BroadcastPlan::for_each_run / parallel_runs directly.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "runtime/parallel.h"
#include "core/tensor.h"

namespace dpl {

// Output shape of broadcasting a with b (ONNX multidirectional broadcasting).
Shape broadcast_shape(const Shape& a, const Shape& b);
// Same for any number of shapes (at least one).
Shape broadcast_shapes(const std::vector<Shape>& shapes);
// True when `from` broadcasts to exactly `to` (unidirectional, as PRelu's slope or Expand).
bool broadcasts_to(const Shape& from, const Shape& to);
// Shape of a per-axis parameter (one value per index of x's `axis`, e.g. per-channel scales)
// laid out to broadcast against x: x's rank, x[axis] at `axis`, 1 elsewhere. A negative
// axis counts from the end. Reshape the parameter tensor to it, then use the helpers below.
Shape per_axis_shape(const Shape& x, int axis);

// Default number of elements below which a loop stays on the calling thread.
inline constexpr int64_t kElementwiseGrain = 32768;
// For loops whose per-element cost is high (exp, erf, pow...).
inline constexpr int64_t kElementwiseGrainHeavy = 4096;

class BroadcastPlan {
 public:
  static constexpr int kMaxInputs = 4;

  // Each input shape must broadcast to `out` (throws dpl::Error otherwise).
  BroadcastPlan(std::initializer_list<const Shape*> inputs, const Shape& out);

  int num_inputs() const { return n_in_; }
  int64_t numel() const { return numel_; }
  // Length of the innermost run (the last collapsed dimension).
  int64_t inner() const { return dims_.back(); }
  // Input i is a single value along each run (stride 0 in the innermost dimension);
  // otherwise it is contiguous along the run.
  bool scalar_in_run(int i) const { return inner_stride_[i] == 0; }
  // True when every input has the output's shape (up to leading 1s): one contiguous run.
  bool all_contiguous() const { return dims_.size() == 1 && !any_scalar_in_run(); }
  bool any_scalar_in_run() const {
    for (int i = 0; i < n_in_; ++i)
      if (inner_stride_[i] == 0) return true;
    return false;
  }
  // Collapsed output dimensions, outermost first (for diagnostics and tests).
  const std::vector<int64_t>& collapsed_dims() const { return dims_; }

  // Calls f(out_offset, in_offsets, len) for every run intersecting output elements
  // [begin, end), in order. in_offsets[i] is input i's element offset at out_offset; along
  // the run input i advances by 1, or by 0 when scalar_in_run(i).
  template <typename F>
  void for_each_run(int64_t begin, int64_t end, F&& f) const;
  // for_each_run over the whole output, split over threads.
  template <typename F>
  void parallel_runs(F&& f, int64_t grain = kElementwiseGrain) const {
    parallel_for(numel_, [&](int64_t b, int64_t e) { for_each_run(b, e, f); }, grain);
  }

 private:
  int n_in_ = 0;
  int64_t numel_ = 0;
  std::vector<int64_t> dims_;                                  // collapsed; never empty
  std::vector<std::array<int64_t, kMaxInputs>> strides_;       // per collapsed dim, per input
  std::array<int64_t, kMaxInputs> inner_stride_{};             // 0 or 1
};

template <typename F>
void BroadcastPlan::for_each_run(int64_t begin, int64_t end, F&& f) const {
  if (begin >= end) return;
  const int64_t in_len = dims_.back();
  const int nd = static_cast<int>(dims_.size());
  const int outer_dims = nd - 1;
  int64_t outer = begin / in_len, pos = begin % in_len;
  // Odometer over the outer dimensions and each input's offset at the start of the run.
  std::array<int64_t, 16> idx_small{};
  std::vector<int64_t> idx_big;
  int64_t* idx = idx_small.data();
  if (outer_dims > static_cast<int>(idx_small.size())) {
    idx_big.assign(outer_dims, 0);
    idx = idx_big.data();
  }
  std::array<int64_t, kMaxInputs> base{};
  {
    int64_t rem = outer;
    for (int d = outer_dims - 1; d >= 0; --d) {
      idx[d] = rem % dims_[d];
      rem /= dims_[d];
      for (int i = 0; i < n_in_; ++i) base[i] += idx[d] * strides_[d][i];
    }
  }
  std::array<int64_t, kMaxInputs> off{};
  int64_t cur = begin;
  while (cur < end) {
    const int64_t len = std::min(in_len - pos, end - cur);
    for (int i = 0; i < n_in_; ++i) off[i] = base[i] + pos * inner_stride_[i];
    f(cur, static_cast<const int64_t*>(off.data()), len);
    cur += len;
    pos = 0;
    for (int d = outer_dims - 1; d >= 0; --d) {
      for (int i = 0; i < n_in_; ++i) base[i] += strides_[d][i];
      if (++idx[d] < dims_[d]) break;
      for (int i = 0; i < n_in_; ++i) base[i] -= strides_[d][i] * dims_[d];
      idx[d] = 0;
    }
  }
}

// y[i] = fn(a[i], b[i]) for i < n, where an input with its `scalar` flag set is one value
// for every i: one run of broadcast_binary, also the span form of binary kernels.
template <typename TO, typename TA, typename TB, typename F>
inline void binary_run(const TA* a, bool a_scalar, const TB* b, bool b_scalar, TO* y, int64_t n, const F& fn) {
  if (!a_scalar && !b_scalar) {
    for (int64_t i = 0; i < n; ++i) y[i] = fn(a[i], b[i]);
  } else if (!a_scalar) {
    const TB s = *b;
    for (int64_t i = 0; i < n; ++i) y[i] = fn(a[i], s);
  } else if (!b_scalar) {
    const TA s = *a;
    for (int64_t i = 0; i < n; ++i) y[i] = fn(s, b[i]);
  } else {
    const TO v = fn(*a, *b);
    for (int64_t i = 0; i < n; ++i) y[i] = v;
  }
}

// No post-processing of the results (broadcast_binary's default `post`).
struct NoPost {
  template <typename TO>
  void operator()(TO*, int64_t) const {}
};

// y = fn(a, b) elementwise with broadcasting on raw buffers. `out_shape` must be the
// broadcast of the two shapes (or any shape both broadcast to). `y` may alias `a` or `b`
// only when that input has the output's full shape (as in in-place accumulation). A `post`
// other than NoPost is called on every block of at most kPostBlock results just written,
// while they are in L1 (a fused fake quantization: ops/elementwise.h).
inline constexpr int64_t kPostBlock = 4096;
template <typename TO, typename TA, typename TB, typename F, typename Post = NoPost>
void broadcast_binary(const TA* a, const Shape& a_shape, const TB* b, const Shape& b_shape, TO* y,
                      const Shape& out_shape, F fn, int64_t grain = kElementwiseGrain, Post post = {}) {
  BroadcastPlan plan({&a_shape, &b_shape}, out_shape);
  const bool sa = plan.scalar_in_run(0), sb = plan.scalar_in_run(1);
  constexpr bool posted = !std::is_same_v<Post, NoPost>;
  plan.parallel_runs(
      [&](int64_t o, const int64_t* off, int64_t run) {
        for (int64_t k = 0; k < run; k += posted ? kPostBlock : run) {
          const int64_t n = posted ? std::min(kPostBlock, run - k) : run;
          TO* yo = y + o + k;
          binary_run(a + off[0] + (sa ? 0 : k), sa, b + off[1] + (sb ? 0 : k), sb, yo, n, fn);
          if constexpr (posted) post(yo, n);
        }
      },
      grain);
}

// Tensor form: `y` must already be allocated with the broadcast shape and type TO.
template <typename TO, typename TA, typename TB, typename F, typename Post = NoPost>
void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& y, F fn, int64_t grain = kElementwiseGrain,
                      Post post = {}) {
  broadcast_binary<TO, TA, TB>(a.data<TA>(), a.shape(), b.data<TB>(), b.shape(), y.data<TO>(), y.shape(), fn,
                               grain, post);
}

// y = fn(a, b, c) elementwise with broadcasting (Where, Clip with tensor bounds...).
template <typename TO, typename TA, typename TB, typename TC, typename F>
void broadcast_ternary(const TA* a, const Shape& a_shape, const TB* b, const Shape& b_shape, const TC* c,
                       const Shape& c_shape, TO* y, const Shape& out_shape, F fn,
                       int64_t grain = kElementwiseGrain) {
  BroadcastPlan plan({&a_shape, &b_shape, &c_shape}, out_shape);
  const int64_t s0 = plan.scalar_in_run(0) ? 0 : 1, s1 = plan.scalar_in_run(1) ? 0 : 1,
                s2 = plan.scalar_in_run(2) ? 0 : 1;
  plan.parallel_runs(
      [&](int64_t o, const int64_t* off, int64_t n) {
        TO* yo = y + o;
        const TA* x0 = a + off[0];
        const TB* x1 = b + off[1];
        const TC* x2 = c + off[2];
        if (s0 && s1 && s2) {
          for (int64_t i = 0; i < n; ++i) yo[i] = fn(x0[i], x1[i], x2[i]);
        } else if (s0 && !s1 && !s2) {  // tensor with two scalars (Clip bounds)
          const TB v1 = *x1;
          const TC v2 = *x2;
          for (int64_t i = 0; i < n; ++i) yo[i] = fn(x0[i], v1, v2);
        } else {
          for (int64_t i = 0; i < n; ++i) yo[i] = fn(x0[i * s0], x1[i * s1], x2[i * s2]);
        }
      },
      grain);
}

template <typename TO, typename TA, typename TB, typename TC, typename F>
void broadcast_ternary(const Tensor& a, const Tensor& b, const Tensor& c, Tensor& y, F fn,
                       int64_t grain = kElementwiseGrain) {
  broadcast_ternary<TO, TA, TB, TC>(a.data<TA>(), a.shape(), b.data<TB>(), b.shape(), c.data<TC>(), c.shape(),
                                    y.data<TO>(), y.shape(), fn, grain);
}

// y[i] = fn(x[i]) over n contiguous elements, split over threads.
template <typename TO, typename TI, typename F>
void parallel_map(const TI* x, TO* y, int64_t n, F fn, int64_t grain = kElementwiseGrain) {
  parallel_for(
      n,
      [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = fn(x[i]);
      },
      grain);
}

}  // namespace dpl
