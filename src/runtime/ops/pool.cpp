// MaxPool and AveragePool (1-D/2-D/3-D and beyond), GlobalAveragePool, GlobalMaxPool,
// MaxUnpool.
//
// Max and average pooling over a box are separable: the box maximum is the maximum over
// one axis of the maxima over the others, and the box mean (whose divisor is a product
// of per-axis tap counts, with or without padding) is the mean of per-axis means. So a
// k x k pool runs as one 1-D pass per spatial axis (2k taps per output instead of k^2),
// each pass a contiguous, vectorizable loop; slices (n, c) run in parallel. MaxPool's
// optional Indices output takes the direct path, which tracks the argmax per window.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "runtime/channels_last.h"
#include "runtime/op_registry.h"
#include "runtime/ops/pool_geometry.h"
#include "runtime/parallel.h"
#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

using pool::Axis1D;
using pool::PoolAttrs;

template <typename T>
constexpr T lowest_value() {
  if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}

// 1-D pool along the contiguous axis: `rows` rows of a.in values -> rows of a.out values.
// A row whose windows reach outside the input is first copied into `pad` with the
// padding value around it (lowest for max, 0 for average), so every output runs the same
// tap-outer loop, which vectorizes over the outputs when the stride is 1.
template <typename T, bool IsMax>
void pass_last(const Axis1D& a, const T* src, T* dst, int64_t rows, std::vector<T>& pad) {
  const int64_t s = a.s, d = a.d, k = a.k, out = a.out;
  const bool direct = a.o_lo == 0 && a.o_hi == out;  // no window leaves the input
  const int64_t plen = (out - 1) * s + (k - 1) * d + 1;
  const T fill = IsMax ? lowest_value<T>() : T(0);
  if (!direct) {
    pad.assign(static_cast<size_t>(plen), fill);
  }
  const int64_t copy_lo = std::min(a.pb, plen), copy_n = std::max<int64_t>(0, std::min(a.in, plen - a.pb));
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = src + r * a.in;
    T* y = dst + r * out;
    const T* base;
    if (direct) {
      base = x - a.pb;  // pb is 0 or the windows would leave the input
    } else {
      std::memcpy(pad.data() + copy_lo, x, static_cast<size_t>(copy_n) * sizeof(T));
      base = pad.data();
    }
    if (s == 1) {
      for (int64_t o = 0; o < out; ++o) y[o] = base[o];
      for (int64_t j = 1; j < k; ++j) {
        const T* b = base + j * d;
        if constexpr (IsMax) {
          for (int64_t o = 0; o < out; ++o) y[o] = b[o] > y[o] ? b[o] : y[o];
        } else {
          for (int64_t o = 0; o < out; ++o) y[o] += b[o];
        }
      }
    } else {
      for (int64_t o = 0; o < out; ++o) y[o] = base[o * s];
      for (int64_t j = 1; j < k; ++j) {
        const T* b = base + j * d;
        if constexpr (IsMax) {
          for (int64_t o = 0; o < out; ++o) y[o] = b[o * s] > y[o] ? b[o * s] : y[o];
        } else {
          for (int64_t o = 0; o < out; ++o) y[o] += b[o * s];
        }
      }
    }
    if constexpr (!IsMax) {
      const double* inv = a.inv.data();
      for (int64_t o = 0; o < out; ++o) y[o] *= static_cast<T>(inv[o]);
    }
  }
}

// 1-D pool along an outer axis: [outer, a.in, inner] -> [outer, a.out, inner].
template <typename T, bool IsMax>
void pass_mid(const Axis1D& a, const T* src, T* dst, int64_t outer, int64_t inner) {
  for (int64_t q = 0; q < outer; ++q) {
    const T* x = src + q * a.in * inner;
    T* y = dst + q * a.out * inner;
    for (int64_t o = 0; o < a.out; ++o) {
      T* yo = y + o * inner;
      const int64_t cnt = a.n[o];
      if (cnt == 0) {
        std::fill_n(yo, inner, IsMax ? lowest_value<T>() : T(0));
        continue;
      }
      const T* r0 = x + a.first[o] * inner;
      std::memcpy(yo, r0, inner * sizeof(T));
      for (int64_t t = 1; t < cnt; ++t) {
        const T* rt = r0 + t * a.d * inner;
        if constexpr (IsMax) {
          for (int64_t i = 0; i < inner; ++i) yo[i] = rt[i] > yo[i] ? rt[i] : yo[i];
        } else {
          for (int64_t i = 0; i < inner; ++i) yo[i] += rt[i];
        }
      }
      if constexpr (!IsMax) {
        const T w = static_cast<T>(a.inv[o]);
        for (int64_t i = 0; i < inner; ++i) yo[i] *= w;
      }
    }
  }
}

// Separable pooling of every (n, c) slice; of a channels-last tensor (runtime/channels_last.h:
// memory [N, spatial..., C]), of every n slice, the channels joining each pass's contiguous
// inner block so the inner loops run over channels.
template <typename T, bool IsMax>
void pool_separable(const std::vector<Axis1D>& axes, const Tensor& x, Tensor& y, bool channels_last = false) {
  const int m = static_cast<int>(axes.size());
  const int64_t lanes = channels_last ? x.shape()[1] : 1;  // elements per spatial position
  const int64_t nc = channels_last ? x.shape()[0] : x.shape()[0] * x.shape()[1];  // slices
  int64_t in_slice = lanes, out_slice = lanes;
  for (const auto& a : axes) in_slice *= a.in, out_slice *= a.out;
  // Passes run from the last axis to the first; record each one's geometry.
  struct Pass { int axis; int64_t outer, inner, out_size; };
  std::vector<Pass> passes;
  {
    std::vector<int64_t> cur(m);
    for (int i = 0; i < m; ++i) cur[i] = axes[i].in;
    for (int i = m - 1; i >= 0; --i) {
      if (axes[i].identity()) continue;
      int64_t outer = 1, inner = lanes;
      for (int j = 0; j < i; ++j) outer *= cur[j];
      for (int j = i + 1; j < m; ++j) inner *= cur[j];
      cur[i] = axes[i].out;
      passes.push_back({i, outer, inner, outer * axes[i].out * inner});
    }
  }
  const T* xs = x.data<T>();
  T* ys = y.data<T>();
  if (passes.empty()) {
    std::memcpy(ys, xs, x.bytes());
    return;
  }
  int64_t buf_size = 0;
  for (size_t p = 0; p + 1 < passes.size(); ++p) buf_size = std::max(buf_size, passes[p].out_size);
  int64_t work = in_slice;
  for (const auto& a : axes) work = std::max(work, out_slice * a.k);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, work));
  parallel_for(
      nc,
      [&](int64_t b, int64_t e) {
        std::vector<T> buf0(buf_size), buf1(buf_size), pad;
        for (int64_t c = b; c < e; ++c) {
          const T* src = xs + c * in_slice;
          for (size_t p = 0; p < passes.size(); ++p) {
            const Pass& ps = passes[p];
            T* dst = p + 1 == passes.size() ? ys + c * out_slice : (p % 2 == 0 ? buf0.data() : buf1.data());
            const Axis1D& a = axes[ps.axis];
            if (ps.inner == 1) pass_last<T, IsMax>(a, src, dst, ps.outer, pad);
            else pass_mid<T, IsMax>(a, src, dst, ps.outer, ps.inner);
            src = dst;
          }
        }
      },
      grain);
}

// Stride-1 2-D MaxPool (YOLOX's SPP: 5x5/9x9/13x13 on 13x13 maps). Each slice is copied
// into a plane padded with the lowest value; with unit strides both passes are then flat
// loops over the padded plane (row ends produce values that are never read), which
// vectorize fully even when rows are shorter than a vector register or two.
template <typename T>
void maxpool2d_stride1(const std::vector<Axis1D>& axes, const Tensor& x, Tensor& y) {
  const Axis1D &ah = axes[0], &aw = axes[1];
  const int64_t nc = x.shape()[0] * x.shape()[1];
  const int64_t H = ah.in, W = aw.in, OH = ah.out, OW = aw.out;
  const int64_t PW = OW + (aw.k - 1) * aw.d, PH = OH + (ah.k - 1) * ah.d;
  // Input rows/columns that land inside the padded plane.
  const int64_t r0 = std::max<int64_t>(0, -ah.pb), r1 = std::min<int64_t>(H, PH - ah.pb);
  const int64_t c0 = std::max<int64_t>(0, -aw.pb), c1 = std::min<int64_t>(W, PW - aw.pb);
  const T* xs = x.data<T>();
  T* ys = y.data<T>();
  const int64_t n_h = PH * PW - (aw.k - 1) * aw.d;  // horizontal pass outputs (flat)
  const int64_t n_v = (OH - 1) * PW + OW;           // vertical pass outputs (flat)
  parallel_for(
      nc,
      [&](int64_t b, int64_t e) {
        std::vector<T> P(PH * PW, lowest_value<T>()), Tm(PH * PW), O(OH * PW);
        for (int64_t c = b; c < e; ++c) {
          const T* xc = xs + c * H * W;
          for (int64_t r = r0; r < r1; ++r)
            std::memcpy(&P[(r + ah.pb) * PW + c0 + aw.pb], xc + r * W + c0, (c1 - c0) * sizeof(T));
          T* tp = Tm.data();
          const T* pp = P.data();
          for (int64_t i = 0; i < n_h; ++i) tp[i] = pp[i];
          for (int64_t j = 1; j < aw.k; ++j) {
            const T* q = pp + j * aw.d;
            for (int64_t i = 0; i < n_h; ++i) tp[i] = q[i] > tp[i] ? q[i] : tp[i];
          }
          T* op = O.data();
          for (int64_t i = 0; i < n_v; ++i) op[i] = tp[i];
          for (int64_t j = 1; j < ah.k; ++j) {
            const T* q = tp + j * ah.d * PW;
            for (int64_t i = 0; i < n_v; ++i) op[i] = q[i] > op[i] ? q[i] : op[i];
          }
          T* yc = ys + c * OH * OW;
          for (int64_t r = 0; r < OH; ++r) std::memcpy(yc + r * OW, op + r * PW, OW * sizeof(T));
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, PH * PW * (ah.k + aw.k))));
}

// Direct MaxPool that also reports the flat index of each maximum (first one on ties).
template <typename T>
void maxpool_with_indices(const std::vector<Axis1D>& axes, int64_t storage_order, const Tensor& x, Tensor& y,
                          Tensor& idx) {
  const int m = static_cast<int>(axes.size());
  const int64_t nc = x.shape()[0] * x.shape()[1];
  int64_t in_slice = 1, out_slice = 1;
  for (const auto& a : axes) in_slice *= a.in, out_slice *= a.out;
  // Element offset (row-major) and reported index stride (row- or column-major) per axis.
  std::vector<int64_t> off(m, 1), rep(m, 1);
  for (int i = m - 2; i >= 0; --i) off[i] = off[i + 1] * axes[i + 1].in;
  if (storage_order == 1) {
    for (int i = 1; i < m; ++i) rep[i] = rep[i - 1] * axes[i - 1].in;
  } else {
    rep = off;
  }
  const T* xs = x.data<T>();
  T* ys = y.data<T>();
  int64_t* is = idx.data<int64_t>();
  parallel_for(
      nc,
      [&](int64_t b, int64_t e) {
        std::vector<int64_t> o(m), t(m);
        for (int64_t c = b; c < e; ++c) {
          const T* xc = xs + c * in_slice;
          std::fill(o.begin(), o.end(), 0);
          for (int64_t oi = 0; oi < out_slice; ++oi) {
            T best = lowest_value<T>();
            int64_t best_idx = -1;
            bool empty = false;
            for (int i = 0; i < m; ++i) {
              t[i] = 0;
              if (axes[i].n[o[i]] == 0) empty = true;
            }
            while (!empty) {
              int64_t eoff = 0, roff = 0;
              for (int i = 0; i < m; ++i) {
                const int64_t pos = axes[i].first[o[i]] + t[i] * axes[i].d;
                eoff += pos * off[i];
                roff += pos * rep[i];
              }
              if (best_idx < 0 || xc[eoff] > best) {
                best = xc[eoff];
                best_idx = roff;
              }
              int i = m - 1;
              for (; i >= 0; --i) {
                if (++t[i] < axes[i].n[o[i]]) break;
                t[i] = 0;
              }
              if (i < 0) break;
            }
            ys[c * out_slice + oi] = best;
            is[c * out_slice + oi] = best_idx < 0 ? -1 : c * in_slice + best_idx;
            for (int i = m - 1; i >= 0; --i) {
              if (++o[i] < axes[i].out) break;
              o[i] = 0;
            }
          }
        }
      },
      std::max<int64_t>(1, 4096 / std::max<int64_t>(1, out_slice)));
}

template <bool IsMax>
class PoolOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.op_type;
    attrs_.parse(node);
    if (!IsMax) {
      DPL_CHECK(node.outputs.size() == 1, "AveragePool '{}' has one output, got {}", node.name, node.outputs.size());
    }
    want_indices_ = IsMax && node.outputs.size() > 1 && !node.outputs[1].empty();
  }

  bool has_backward() const override { return true; }  // grad_kernels.h
  void backward(OpContext&, const GradArgs& args) override {
    if (!grad::wants(args, 0)) return;
    const Tensor& x = grad::float_input(args, 0, name_);
    grad::pool(args, attrs_.axes(x.shape(), name_), IsMax, name_);
  }

  // A channels-last X (runtime/channels_last.h) gives a channels-last Y, without indices.
  bool accepts_channels_last(size_t input) const override { return input == 0 && !want_indices_; }

  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const auto axes = attrs_.axes(x.shape(), name_);
    Shape ys = {x.shape()[0], x.shape()[1]};
    for (const auto& a : axes) ys.push_back(a.out);
    out[0] = Tensor(x.dtype(), ys);
    if (ctx.input_channels_last(0)) {
      DPL_CHECK(ctx.channels_last_out_ok, "internal: {} got a channels-last input it cannot pass on", name_);
      dispatch_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) fail("{}: bool input is not supported", name_);
        else if constexpr (IsMax) pool_separable<T, true>(axes, x, out[0], true);
        else if constexpr (std::is_floating_point_v<T>) pool_separable<T, false>(axes, x, out[0], true);
        else fail("AveragePool: element type {} is not supported (float, double)", dtype_name(x.dtype()));
      });
      ctx.out_channels_last[0] = 1;
      return;
    }
    if (want_indices_) {
      out[1] = Tensor(DType::I64, ys);
      dispatch_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) fail("MaxPool: bool input is not supported");
        else maxpool_with_indices<T>(axes, attrs_.storage_order, x, out[0], out[1]);
      });
      return;
    }
    if constexpr (IsMax) {
      dispatch_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) fail("MaxPool: bool input is not supported");
        else if (axes.size() == 2 && axes[0].s == 1 && axes[1].s == 1 && axes[0].out > 0 && axes[1].out > 0)
          maxpool2d_stride1<T>(axes, x, out[0]);
        else pool_separable<T, true>(axes, x, out[0]);
      });
    } else {
      if (x.dtype() == DType::F32) pool_separable<float, false>(axes, x, out[0]);
      else if (x.dtype() == DType::F64) pool_separable<double, false>(axes, x, out[0]);
      else fail("AveragePool: element type {} is not supported (float, double)", dtype_name(x.dtype()));
    }
  }

 private:
  std::string name_;
  PoolAttrs attrs_;
  bool want_indices_ = false;
};

template <typename T, bool IsMax>
void global_pool(const Tensor& x, Tensor& y, int64_t nc, int64_t sp) {
  const T* xs = x.data<T>();
  T* ys = y.data<T>();
  parallel_for(
      nc,
      [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
          const T* p = xs + c * sp;
          if constexpr (IsMax) {
            T m = lowest_value<T>();
#pragma omp simd reduction(max : m)
            for (int64_t i = 0; i < sp; ++i) m = p[i] > m ? p[i] : m;
            ys[c] = m;
          } else {
            T acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < sp; ++i) acc += p[i];
            ys[c] = sp > 0 ? acc / static_cast<T>(sp) : T(0);
          }
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(1, sp)));
}

// global_pool() of a channels-last x ([N, spatial, C] in memory): per sample, each position's
// C values are added (or maxed) into C accumulators, channels split over threads (each
// channel's order is the positions' order, whatever the thread count). Float sums run in
// double: one accumulator per channel over up to 10^5 positions. The result, one value per
// channel, is the same memory in both orders. (Converting x to plain first cost more than
// the pooling: PP-OCRv4 det's squeeze-excitation pools, docs/perf-notes.md.)
template <typename T, bool IsMax>
void global_pool_channels_last(const Tensor& x, Tensor& y, int64_t n, int64_t c, int64_t sp) {
  const T* xs = x.data<T>();
  T* ys = y.data<T>();
  constexpr int64_t kChannels = 32;  // per task: a few vector registers of accumulators
  const int64_t blocks = (c + kChannels - 1) / kChannels;
  using Acc = std::conditional_t<IsMax, T, std::conditional_t<std::is_same_v<T, float>, double, T>>;
  parallel_for(
      n * blocks,
      [&](int64_t b, int64_t e) {
        Acc acc[kChannels];
        for (int64_t t = b; t < e; ++t) {
          const int64_t s = t / blocks, c0 = (t % blocks) * kChannels, m = std::min(kChannels, c - c0);
          const T* p = xs + s * sp * c + c0;
          for (int64_t j = 0; j < m; ++j) acc[j] = IsMax ? static_cast<Acc>(lowest_value<T>()) : Acc(0);
          for (int64_t i = 0; i < sp; ++i, p += c) {
            if constexpr (IsMax) {
              for (int64_t j = 0; j < m; ++j) acc[j] = p[j] > acc[j] ? p[j] : acc[j];
            } else {
              for (int64_t j = 0; j < m; ++j) acc[j] += static_cast<Acc>(p[j]);
            }
          }
          for (int64_t j = 0; j < m; ++j) {
            if constexpr (IsMax) ys[s * c + c0 + j] = acc[j];
            else ys[s * c + c0 + j] = sp > 0 ? static_cast<T>(acc[j] / static_cast<Acc>(sp)) : T(0);
          }
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(1, sp * kChannels)));
}

template <bool IsMax>
class GlobalPoolOp : public Op {
 public:
  // Channels-last inputs (floats) are pooled as they are: the output ([N, C, 1...]) is one
  // memory order.
  bool accepts_channels_last(size_t input) const override { return input == 0; }
  bool has_backward() const override { return true; }  // grad_kernels.h
  void backward(OpContext&, const GradArgs& args) override {
    if constexpr (IsMax) grad::global_max_pool(args);
    else grad::global_average_pool(args);
  }
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x_in = *in[0];
    const char* name = IsMax ? "GlobalMaxPool" : "GlobalAveragePool";
    DPL_CHECK(x_in.rank() >= 2, "{}: input must have rank >= 2 (N, C, ...), got shape {}", name,
              shape_str(x_in.shape()));
    Shape ys = x_in.shape();
    for (int i = 2; i < x_in.rank(); ++i) ys[i] = 1;
    out[0] = Tensor(x_in.dtype(), ys);
    const int64_t nc = x_in.shape()[0] * x_in.shape()[1];
    const int64_t sp = nc > 0 ? x_in.numel() / nc : 0;
    if (ctx.input_channels_last(0) && x_in.dtype() == DType::F32)
      return global_pool_channels_last<float, IsMax>(x_in, out[0], x_in.shape()[0], x_in.shape()[1], sp);
    const Tensor converted = ctx.input_channels_last(0) ? channels_last_to_plain(x_in) : Tensor();
    const Tensor& x = converted.defined() ? converted : x_in;
    if (x.dtype() == DType::F32) global_pool<float, IsMax>(x, out[0], nc, sp);
    else if (x.dtype() == DType::F64) global_pool<double, IsMax>(x, out[0], nc, sp);
    else if (IsMax && x.dtype() == DType::U8) global_pool<uint8_t, true>(x, out[0], nc, sp);
    else if (IsMax && x.dtype() == DType::I8) global_pool<int8_t, true>(x, out[0], nc, sp);
    else fail("{}: element type {} is not supported", name, dtype_name(x.dtype()));
  }
};

// MaxUnpool: zeros of the unpooled shape, per spatial axis
// (in - 1) * stride + kernel - pad_begin - pad_end, with X scattered to the flat positions
// in I (MaxPool's Indices); a larger output_shape pads that with zeros at the end.
class MaxUnpoolOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    kernel_ = node.attrs.get_ints("kernel_shape");
    DPL_CHECK(!kernel_.empty(), "MaxUnpool '{}': attribute kernel_shape is required", name_);
    const size_t m = kernel_.size();
    strides_ = node.attrs.get_ints("strides", std::vector<int64_t>(m, 1));
    pads_ = node.attrs.get_ints("pads", std::vector<int64_t>(2 * m, 0));
    DPL_CHECK(strides_.size() == m && pads_.size() == 2 * m,
              "MaxUnpool '{}': kernel_shape has {} axes but strides/pads have {}/{} values", name_, m,
              strides_.size(), pads_.size());
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const Tensor& idx = *in[1];
    const size_t m = kernel_.size();
    DPL_CHECK(x.rank() == static_cast<int>(m) + 2, "MaxUnpool '{}': input of shape {} does not match a {}-D kernel",
              name_, shape_str(x.shape()), m);
    DPL_CHECK(idx.shape() == x.shape(), "MaxUnpool '{}': indices of shape {} do not match X of shape {}", name_,
              shape_str(idx.shape()), shape_str(x.shape()));
    Shape inferred = {x.shape()[0], x.shape()[1]};
    for (size_t i = 0; i < m; ++i)
      inferred.push_back((x.shape()[i + 2] - 1) * strides_[i] + kernel_[i] - pads_[i] - pads_[i + m]);
    for (int64_t d : inferred)
      DPL_CHECK(d >= 0, "MaxUnpool '{}': negative inferred output shape {}", name_, shape_str(inferred));
    Tensor scat = Tensor::zeros(x.dtype(), inferred);
    const int64_t n = scat.numel();
    const size_t es = dtype_size(x.dtype());
    const uint8_t* xs = static_cast<const uint8_t*>(x.raw());
    uint8_t* sp = static_cast<uint8_t*>(scat.raw());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t j = idx.at_i64(i);
      DPL_CHECK(j >= 0 && j < n, "MaxUnpool '{}': index {} out of range for an output of {} elements", name_, j, n);
      std::memcpy(sp + j * es, xs + i * es, es);
    }
    if (in.size() < 3 || !in[2]) {
      out[0] = scat;
      return;
    }
    // output_shape: the indices still refer to the inferred shape; the result is padded
    // with zeros at the end of each axis (as the ONNX reference does).
    const Shape ys = in[2]->to_i64_vector();
    DPL_CHECK(ys.size() == inferred.size(), "MaxUnpool '{}': output_shape has {} values for rank {}", name_, ys.size(),
              x.rank());
    for (size_t i = 0; i < ys.size(); ++i)
      DPL_CHECK(ys[i] >= inferred[i], "MaxUnpool '{}': output_shape {} is smaller than the unpooled shape {}", name_,
                shape_str(ys), shape_str(inferred));
    out[0] = Tensor::zeros(x.dtype(), ys);
    if (n == 0) return;
    const int r = static_cast<int>(ys.size());
    const auto ost = shape_strides(ys);
    const int64_t row = inferred[r - 1], rows = n / row;
    uint8_t* yp = static_cast<uint8_t*>(out[0].raw());
    for (int64_t q = 0; q < rows; ++q) {
      int64_t rem = q, off = 0;
      for (int d = r - 2; d >= 0; --d) {
        off += (rem % inferred[d]) * ost[d];
        rem /= inferred[d];
      }
      std::memcpy(yp + off * es, sp + q * row * es, row * es);
    }
  }

 private:
  std::string name_;
  std::vector<int64_t> kernel_, strides_, pads_;
};

}  // namespace

DPL_REGISTER_OP("MaxPool", PoolOp<true>);
DPL_REGISTER_OP("AveragePool", PoolOp<false>);
DPL_REGISTER_OP("GlobalMaxPool", GlobalPoolOp<true>);
DPL_REGISTER_OP("GlobalAveragePool", GlobalPoolOp<false>);
DPL_REGISTER_OP("MaxUnpool", MaxUnpoolOp);

}  // namespace dpl
