#include "runtime/ops/data_movement.h"

#include <algorithm>

namespace dpl::ops {

void parallel_memcpy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  constexpr size_t kChunk = 64 * 1024;
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  parallel_for(
      chunks,
      [&](int64_t b, int64_t e) {
        const size_t lo = b * kChunk, hi = std::min(bytes, static_cast<size_t>(e) * kChunk);
        std::memcpy(static_cast<char*>(dst) + lo, static_cast<const char*>(src) + lo, hi - lo);
      },
      1);
}

namespace {

// Walks the index space of some dims in row-major order, tracking a source and a
// destination offset (in elements).
struct Odometer {
  std::vector<int64_t> dims, src_st, dst_st, idx;
  int64_t src = 0, dst = 0;

  void seek(int64_t linear) {
    idx.assign(dims.size(), 0);
    src = dst = 0;
    for (int k = static_cast<int>(dims.size()) - 1; k >= 0; --k) {
      idx[k] = linear % dims[k];
      linear /= dims[k];
      src += idx[k] * src_st[k];
      dst += idx[k] * dst_st[k];
    }
  }
  void next() {
    for (int k = static_cast<int>(dims.size()) - 1; k >= 0; --k) {
      ++idx[k];
      src += src_st[k];
      dst += dst_st[k];
      if (idx[k] < dims[k]) return;
      src -= src_st[k] * dims[k];
      dst -= dst_st[k] * dims[k];
      idx[k] = 0;
    }
  }
};

constexpr int64_t kTile = 16;

}  // namespace

void strided_copy(void* dst, const void* src, Shape shape, std::vector<int64_t> strides, size_t es) {
  const int64_t total = shape_numel(shape);
  if (total == 0) return;
  // Drop unit dims; merge a dim into the previous one when the two are contiguous.
  Shape d;
  std::vector<int64_t> s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!d.empty() && s.back() == strides[i] * shape[i]) {
      d.back() *= shape[i];
      s.back() = strides[i];
    } else {
      d.push_back(shape[i]);
      s.push_back(strides[i]);
    }
  }
  const char* S = static_cast<const char*>(src);
  char* D = static_cast<char*>(dst);
  const int n = static_cast<int>(d.size());
  if (n == 0) {
    std::memcpy(D, S, es);
    return;
  }
  const std::vector<int64_t> dst_st = shape_strides(d);
  const int64_t inner = d[n - 1], inner_stride = s[n - 1];

  // Contiguous innermost dim: memcpy runs.
  if (inner_stride == 1) {
    const size_t run_bytes = static_cast<size_t>(inner) * es;
    if (n == 1) return parallel_memcpy(D, S, run_bytes);
    const int64_t rows = total / inner;
    parallel_for(
        rows,
        [&](int64_t b, int64_t e) {
          Odometer o{Shape(d.begin(), d.end() - 1), std::vector<int64_t>(s.begin(), s.end() - 1),
                     std::vector<int64_t>(dst_st.begin(), dst_st.end() - 1), {}};
          o.seek(b);
          for (int64_t r = b; r < e; ++r, o.next()) std::memcpy(D + r * run_bytes, S + o.src * es, run_bytes);
        },
        grain_for(static_cast<int64_t>(run_bytes)));
    return;
  }

  // The source's contiguous dim j is not the innermost: blocked 2-D transposes between dim
  // j (rows, source stride 1) and the innermost dim (columns, destination stride 1).
  int j = -1;
  for (int k = n - 2; k >= 0; --k)
    if (s[k] == 1) {
      j = k;
      break;
    }
  if (j >= 0) {
    Odometer proto;
    for (int k = 0; k < n - 1; ++k)
      if (k != j) {
        proto.dims.push_back(d[k]);
        proto.src_st.push_back(s[k]);
        proto.dst_st.push_back(dst_st[k]);
      }
    const int64_t R = d[j], C = inner, row_dst = dst_st[j];
    const int64_t tiles_r = (R + kTile - 1) / kTile;
    const int64_t items = (total / (R * C)) * tiles_r;
    dispatch_size(es, [&](auto tag) {
      using U = decltype(tag);
      const U* Su = reinterpret_cast<const U*>(S);
      U* Du = reinterpret_cast<U*>(D);
      parallel_for(
          items,
          [&](int64_t b, int64_t e) {
            Odometer o = proto;
            o.seek(b / tiles_r);
            int64_t tr = b % tiles_r;
            for (int64_t it = b; it < e; ++it) {
              const int64_t r0 = tr * kTile, r1 = std::min(R, r0 + kTile);
              const U* sb = Su + o.src;
              U* db = Du + o.dst;
              for (int64_t c0 = 0; c0 < C; c0 += kTile) {
                const int64_t c1 = std::min(C, c0 + kTile);
                for (int64_t r = r0; r < r1; ++r) {
                  U* drow = db + r * row_dst;
                  const U* scol = sb + r;
                  for (int64_t c = c0; c < c1; ++c) drow[c] = scol[c * inner_stride];
                }
              }
              if (++tr == tiles_r) {
                tr = 0;
                o.next();
              }
            }
          },
          grain_for(kTile * C * static_cast<int64_t>(es)));
    });
    return;
  }

  // No contiguous source dim (stepped slices, broadcasts): element by element.
  const int64_t rows = total / inner;
  dispatch_size(es, [&](auto tag) {
    using U = decltype(tag);
    const U* Su = reinterpret_cast<const U*>(S);
    U* Du = reinterpret_cast<U*>(D);
    parallel_for(
        rows,
        [&](int64_t b, int64_t e) {
          Odometer o{Shape(d.begin(), d.end() - 1), std::vector<int64_t>(s.begin(), s.end() - 1),
                     std::vector<int64_t>(dst_st.begin(), dst_st.end() - 1), {}};
          o.seek(b);
          for (int64_t r = b; r < e; ++r, o.next()) {
            U* drow = Du + r * inner;
            const U* srow = Su + o.src;
            if (inner_stride == 0) {
              std::fill_n(drow, inner, srow[0]);
            } else {
              for (int64_t c = 0; c < inner; ++c) drow[c] = srow[c * inner_stride];
            }
          }
        },
        grain_for(inner * static_cast<int64_t>(es)));
  });
}

Tensor transpose_tensor(const Tensor& in, const std::vector<int64_t>& perm) {
  const int r = in.rank();
  DPL_CHECK(static_cast<int>(perm.size()) == r, "perm has {} entries for a tensor of rank {}", perm.size(), r);
  std::vector<char> seen(r, 0);
  for (int64_t p : perm) {
    DPL_CHECK(p >= 0 && p < r && !seen[p], "perm {} is not a permutation of 0..{}",
              shape_str(Shape(perm.begin(), perm.end())), r - 1);
    seen[p] = 1;
  }
  const auto in_st = shape_strides(in.shape());
  Shape out_shape(r);
  std::vector<int64_t> st(r);
  int64_t last = -1;
  bool moves_data = false;
  for (int i = 0; i < r; ++i) {
    out_shape[i] = in.dim(static_cast<int>(perm[i]));
    st[i] = in_st[perm[i]];
    if (out_shape[i] != 1) {
      if (perm[i] < last) moves_data = true;
      last = perm[i];
    }
  }
  if (!moves_data) return in.reshaped(out_shape);
  Tensor out(in.dtype(), out_shape);
  strided_copy(out.raw(), in.raw(), out_shape, st, dtype_size(in.dtype()));
  return out;
}

}  // namespace dpl::ops
