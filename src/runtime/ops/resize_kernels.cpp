// Resize's nearest gather and separable linear/cubic passes (see resize_kernels.h).
#include "runtime/ops/resize_kernels.h"

#include <algorithm>
#include <cstring>

#include "runtime/parallel.h"

namespace dpl::resize {

namespace {

// ---- periodic interiors of integer upsampling -------------------------------------------

// y[i*P + p] = sum_t w[t][p] * x[i + d[t][p]] for i in [lo, hi): the phases unroll, the
// loop over i vectorizes (grouped stores).
template <int P, int K, typename T>
void periodic_row(const T* x, T* y, int64_t lo, int64_t hi, const int64_t* d, const T* w) {
  int64_t D[K][P];
  T W[K][P];
  for (int t = 0; t < K; ++t)
    for (int p = 0; p < P; ++p) D[t][p] = d[t * P + p], W[t][p] = w[t * P + p];
  for (int64_t i = lo; i < hi; ++i) {
    for (int p = 0; p < P; ++p) {
      T acc = W[0][p] * x[i + D[0][p]];
      for (int t = 1; t < K; ++t) acc += W[t][p] * x[i + D[t][p]];
      y[i * P + p] = acc;
    }
  }
}

template <int K, typename T>
void periodic_dispatch(int64_t P, const T* x, T* y, int64_t lo, int64_t hi, const int64_t* d, const T* w) {
  switch (P) {
    case 2: periodic_row<2, K, T>(x, y, lo, hi, d, w); break;
    case 3: periodic_row<3, K, T>(x, y, lo, hi, d, w); break;
    case 4: periodic_row<4, K, T>(x, y, lo, hi, d, w); break;
    default: periodic_row<8, K, T>(x, y, lo, hi, d, w); break;
  }
}

// Nearest: y[i*P + p] = x[i + d[p]].
template <int P, typename U>
void periodic_copy(const U* x, U* y, int64_t lo, int64_t hi, const int64_t* d) {
  int64_t D[P];
  for (int p = 0; p < P; ++p) D[p] = d[p];
  for (int64_t i = lo; i < hi; ++i)
    for (int p = 0; p < P; ++p) y[i * P + p] = x[i + D[p]];
}

// ---- nearest: a gather through the tables --------------------------------------------

template <typename U>
struct NearestCtx {
  const std::vector<AxisTable>* ax;
  int last;
  std::vector<int64_t> in_stride, out_block;  // per axis, within one slice
  U ext;

  void run(int d, const U* s, U* o) const {
    const AxisTable& t = (*ax)[d];
    if (d == last) {
      if (t.repeat > 0) {
        const int64_t k = t.repeat;
        if (k == 2) {
          for (int64_t i = 0; i < t.in; ++i) o[2 * i] = o[2 * i + 1] = s[i];
        } else {
          for (int64_t i = 0; i < t.in; ++i)
            for (int64_t j = 0; j < k; ++j) o[i * k + j] = s[i];
        }
        return;
      }
      const int32_t* ip = t.idx_tm.data();
      if (t.any_outside) {
        for (int64_t j = 0; j < t.out; ++j) o[j] = t.outside[j] ? ext : s[ip[j]];
      } else if (t.period > 0) {
        const int64_t a = t.per_lo * t.period, b = t.per_hi * t.period;
        for (int64_t j = 0; j < a; ++j) o[j] = s[ip[j]];
        for (int64_t j = b; j < t.out; ++j) o[j] = s[ip[j]];
        const int64_t* d = t.per_d.data();
        switch (t.period) {
          case 2: periodic_copy<2>(s, o, t.per_lo, t.per_hi, d); break;
          case 3: periodic_copy<3>(s, o, t.per_lo, t.per_hi, d); break;
          case 4: periodic_copy<4>(s, o, t.per_lo, t.per_hi, d); break;
          default: periodic_copy<8>(s, o, t.per_lo, t.per_hi, d); break;
        }
      } else {
        for (int64_t j = 0; j < t.out; ++j) o[j] = s[ip[j]];
      }
      return;
    }
    const int64_t ob = out_block[d];
    for (int64_t j = 0; j < t.out; ++j) {
      U* oj = o + j * ob;
      if (t.outside[j]) {
        std::fill_n(oj, ob, ext);
      } else if (j > 0 && !t.outside[j - 1] && t.idx[j] == t.idx[j - 1]) {
        std::memcpy(oj, oj - ob, ob * sizeof(U));
      } else {
        run(d + 1, s + t.idx[j] * in_stride[d], oj);
      }
    }
  }
};

// ---- linear / cubic: separable passes ----------------------------------------------------

// Along the contiguous axis: rows of t.in -> rows of t.out. `w` is tap-major like
// t.idx_tm; `pw` is t.per_w in the element type.
template <typename T>
void pass_last(const AxisTable& t, const std::vector<T>& w, const std::vector<T>& pw, const T* src, T* dst,
               int64_t rows, T ext) {
  const int K = t.taps;
  const int64_t out = t.out;
  const int32_t* i0 = t.idx_tm.data();
  const T* w0 = w.data();
  // Outputs [a, b) are the periodic interior (none when a == b).
  const int64_t a = t.period > 0 ? t.per_lo * t.period : 0, b = t.period > 0 ? t.per_hi * t.period : 0;
  auto gather = [&](const T* x, T* y, int64_t lo, int64_t hi) {
    if (K == 2) {
      const int32_t* i1 = i0 + out;
      const T* w1 = w0 + out;
      for (int64_t o = lo; o < hi; ++o) y[o] = w0[o] * x[i0[o]] + w1[o] * x[i1[o]];
    } else {
      for (int64_t o = lo; o < hi; ++o) y[o] = w0[o] * x[i0[o]];
      for (int k = 1; k < K; ++k) {
        const int32_t* ik = i0 + k * out;
        const T* wk = w0 + k * out;
        for (int64_t o = lo; o < hi; ++o) y[o] += wk[o] * x[ik[o]];
      }
    }
  };
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = src + r * t.in;
    T* y = dst + r * out;
    if (a < b) {
      gather(x, y, 0, a);
      gather(x, y, b, out);
      if (K == 2) periodic_dispatch<2, T>(t.period, x, y, t.per_lo, t.per_hi, t.per_d.data(), pw.data());
      else periodic_dispatch<4, T>(t.period, x, y, t.per_lo, t.per_hi, t.per_d.data(), pw.data());
    } else {
      gather(x, y, 0, out);
    }
    if (t.any_outside)
      for (int64_t o = 0; o < out; ++o)
        if (t.outside[o]) y[o] = ext;
  }
}

// Along an outer axis: [outer, t.in, inner] -> [outer, t.out, inner], blending whole rows.
template <typename T>
void pass_mid(const AxisTable& t, const std::vector<T>& w, const T* src, T* dst, int64_t outer, int64_t inner,
              T ext) {
  const int K = t.taps;
  for (int64_t q = 0; q < outer; ++q) {
    const T* x = src + q * t.in * inner;
    T* y = dst + q * t.out * inner;
    for (int64_t o = 0; o < t.out; ++o) {
      T* yo = y + o * inner;
      if (t.outside[o]) {
        std::fill_n(yo, inner, ext);
        continue;
      }
      const int64_t* ip = &t.idx[o * K];
      // Taps with non-zero weight (at grid points only one remains).
      const T* rows_[4];
      T ws[4];
      int n = 0;
      for (int k = 0; k < K; ++k) {
        const T wk = w[k * t.out + o];
        if (wk == T(0)) continue;
        rows_[n] = x + ip[k] * inner;
        ws[n++] = wk;
      }
      if (n == 0) {
        std::fill_n(yo, inner, T(0));
      } else if (n == 1 && ws[0] == T(1)) {
        std::memcpy(yo, rows_[0], inner * sizeof(T));
      } else if (n == 1) {
        const T a = ws[0];
        const T* r0 = rows_[0];
        for (int64_t i = 0; i < inner; ++i) yo[i] = a * r0[i];
      } else if (n >= 2) {
        const T a = ws[0], b = ws[1];
        const T *r0 = rows_[0], *r1 = rows_[1];
        for (int64_t i = 0; i < inner; ++i) yo[i] = a * r0[i] + b * r1[i];
        for (int k = 2; k < n; ++k) {
          const T c = ws[k];
          const T* rk = rows_[k];
          for (int64_t i = 0; i < inner; ++i) yo[i] += c * rk[i];
        }
      }
    }
  }
}

}  // namespace

template <typename U>
void resize_nearest(const std::vector<AxisTable>& ax, int first, const void* xv, void* yv, int64_t slices,
                    U ext) {
  const int r = static_cast<int>(ax.size());
  NearestCtx<U> c;
  c.ax = &ax;
  c.last = r - 1;
  c.ext = ext;
  c.in_stride.assign(r, 1);
  c.out_block.assign(r, 1);
  for (int d = r - 2; d >= first; --d) {
    c.in_stride[d] = c.in_stride[d + 1] * ax[d + 1].in;
    c.out_block[d] = c.out_block[d + 1] * ax[d + 1].out;
  }
  const int64_t in_slice = c.in_stride[first] * ax[first].in, out_slice = c.out_block[first] * ax[first].out;
  const U* x = static_cast<const U*>(xv);
  U* y = static_cast<U*>(yv);
  parallel_for(
      slices,
      [&](int64_t b, int64_t e) {
        for (int64_t s = b; s < e; ++s) c.run(first, x + s * in_slice, y + s * out_slice);
      },
      std::max<int64_t>(1, 65536 / std::max<int64_t>(1, out_slice)));
}

template <typename T>
void resize_separable(const std::vector<AxisTable>& ax, int first, const T* x, T* y, int64_t slices, T ext) {
  const int r = static_cast<int>(ax.size());
  struct Pass { int axis; int64_t outer, inner, size; };
  std::vector<Pass> passes;
  std::vector<int64_t> cur(r);
  for (int d = 0; d < r; ++d) cur[d] = ax[d].in;
  for (int d = r - 1; d >= first; --d) {
    if (ax[d].identity) continue;
    int64_t outer = 1, inner = 1;
    for (int j = first; j < d; ++j) outer *= cur[j];
    for (int j = d + 1; j < r; ++j) inner *= cur[j];
    cur[d] = ax[d].out;
    passes.push_back({d, outer, inner, outer * ax[d].out * inner});
  }
  int64_t in_slice = 1, out_slice = 1;
  for (int d = first; d < r; ++d) in_slice *= ax[d].in, out_slice *= ax[d].out;
  // Weights in the element type, tap-major ([tap][out]) like AxisTable::idx_tm.
  std::vector<std::vector<T>> weights, per_weights;
  for (const auto& t : ax) {
    std::vector<T> wt(t.w.size());
    for (int64_t o = 0; o < t.out; ++o)
      for (int k = 0; k < t.taps; ++k) wt[k * t.out + o] = static_cast<T>(t.w[o * t.taps + k]);
    weights.push_back(std::move(wt));
    per_weights.emplace_back(t.per_w.begin(), t.per_w.end());
  }
  int64_t buf = 0;
  for (size_t p = 0; p + 1 < passes.size(); ++p) buf = std::max(buf, passes[p].size);
  parallel_for(
      slices,
      [&](int64_t b, int64_t e) {
        std::vector<T> b0(buf), b1(buf);
        for (int64_t s = b; s < e; ++s) {
          const T* src = x + s * in_slice;
          for (size_t p = 0; p < passes.size(); ++p) {
            const Pass& ps = passes[p];
            T* dst = p + 1 == passes.size() ? y + s * out_slice : (p % 2 == 0 ? b0.data() : b1.data());
            if (ps.inner == 1)
              pass_last<T>(ax[ps.axis], weights[ps.axis], per_weights[ps.axis], src, dst, ps.outer, ext);
            else pass_mid<T>(ax[ps.axis], weights[ps.axis], src, dst, ps.outer, ps.inner, ext);
            src = dst;
          }
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(1, out_slice)));
}

template void resize_nearest<uint8_t>(const std::vector<AxisTable>&, int, const void*, void*, int64_t, uint8_t);
template void resize_nearest<uint16_t>(const std::vector<AxisTable>&, int, const void*, void*, int64_t, uint16_t);
template void resize_nearest<uint32_t>(const std::vector<AxisTable>&, int, const void*, void*, int64_t, uint32_t);
template void resize_nearest<uint64_t>(const std::vector<AxisTable>&, int, const void*, void*, int64_t, uint64_t);
template void resize_separable<float>(const std::vector<AxisTable>&, int, const float*, float*, int64_t, float);
template void resize_separable<double>(const std::vector<AxisTable>&, int, const double*, double*, int64_t, double);

void nearest_channels_last(const std::vector<AxisTable>& ax, const void* xv, void* yv, int64_t channels, size_t elem,
                           const void* ext) {
  const int r = static_cast<int>(ax.size());
  // The input spatial position of every output spatial position, -1 outside the crop.
  std::vector<int64_t> src(1, 0);
  int64_t in_spatial = 1;
  for (int d = 2; d < r; ++d) {
    const AxisTable& t = ax[d];
    std::vector<int64_t> next;
    next.reserve(src.size() * t.out);
    for (int64_t base : src)
      for (int64_t j = 0; j < t.out; ++j) {
        const bool out = base < 0 || (t.any_outside && t.outside[j]);
        next.push_back(out ? -1 : base * t.in + (t.identity ? j : t.idx[j * t.taps]));
      }
    src = std::move(next);
    in_spatial *= t.in;
  }
  const int64_t out_spatial = static_cast<int64_t>(src.size()), n = ax[0].out;
  const size_t row = static_cast<size_t>(channels) * elem;
  const char* x = static_cast<const char*>(xv);
  char* y = static_cast<char*>(yv);
  parallel_for(
      n * out_spatial,
      [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const int64_t s = src[i % out_spatial], batch = i / out_spatial;
          char* o = y + static_cast<size_t>(i) * row;
          if (s >= 0) {
            std::memcpy(o, x + static_cast<size_t>(batch * in_spatial + s) * row, row);
          } else {
            for (int64_t c = 0; c < channels; ++c) std::memcpy(o + c * elem, ext, elem);
          }
        }
      },
      std::max<int64_t>(1, 16384 / static_cast<int64_t>(std::max<size_t>(row, 1))));
}

}  // namespace dpl::resize
