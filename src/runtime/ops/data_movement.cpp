#include "runtime/ops/data_movement.h"

#include <algorithm>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace dpl::ops {

void parallel_byte_chunks(size_t bytes, const std::function<void(size_t lo, size_t hi)>& fn) {
  if (bytes == 0) return;
  constexpr size_t kChunk = 64 * 1024;
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  parallel_for(
      chunks,
      [&](int64_t b, int64_t e) { fn(static_cast<size_t>(b) * kChunk, std::min(bytes, static_cast<size_t>(e) * kChunk)); },
      1);
}

void parallel_memcpy(void* dst, const void* src, size_t bytes) {
  parallel_byte_chunks(bytes, [&](size_t lo, size_t hi) {
    std::memcpy(static_cast<char*>(dst) + lo, static_cast<const char*>(src) + lo, hi - lo);
  });
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

// The odometer over every dim but the innermost one (dims d, source strides s, destination
// strides dst_st), at row `row`: the rows of a copy whose innermost dim is one run.
Odometer row_odometer(const Shape& d, const std::vector<int64_t>& s, const std::vector<int64_t>& dst_st, int64_t row) {
  Odometer o{Shape(d.begin(), d.end() - 1), std::vector<int64_t>(s.begin(), s.end() - 1),
             std::vector<int64_t>(dst_st.begin(), dst_st.end() - 1), {}};
  o.seek(row);
  return o;
}

constexpr int64_t kTile = 16;

#if defined(__AVX__)
// 8x8 transpose of 32-bit elements (bit patterns only: no arithmetic, so any 4-byte type):
// dst[i * dst_st + k] = src[k * src_st + i].
inline void transpose8x8_32(const uint32_t* src, int64_t src_st, uint32_t* dst, int64_t dst_st) {
  const float* s = reinterpret_cast<const float*>(src);
  float* d = reinterpret_cast<float*>(dst);
  __m256 r0 = _mm256_loadu_ps(s + 0 * src_st), r1 = _mm256_loadu_ps(s + 1 * src_st);
  __m256 r2 = _mm256_loadu_ps(s + 2 * src_st), r3 = _mm256_loadu_ps(s + 3 * src_st);
  __m256 r4 = _mm256_loadu_ps(s + 4 * src_st), r5 = _mm256_loadu_ps(s + 5 * src_st);
  __m256 r6 = _mm256_loadu_ps(s + 6 * src_st), r7 = _mm256_loadu_ps(s + 7 * src_st);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(d + 0 * dst_st, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(d + 1 * dst_st, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(d + 2 * dst_st, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(d + 3 * dst_st, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(d + 4 * dst_st, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(d + 5 * dst_st, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(d + 6 * dst_st, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(d + 7 * dst_st, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

// One tile: rows [r0, r1) (source stride 1, destination stride row_dst) by columns
// [c0, c1) (source stride col_src, destination stride 1).
template <typename U>
inline void transpose_tile(const U* sb, U* db, int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t row_dst,
                           int64_t col_src) {
#if defined(__AVX__)
  if constexpr (sizeof(U) == 4) {
    if (r1 - r0 == kTile && c1 - c0 == kTile) {
      for (int64_t r = r0; r < r1; r += 8)
        for (int64_t c = c0; c < c1; c += 8)
          transpose8x8_32(reinterpret_cast<const uint32_t*>(sb + r + c * col_src), col_src,
                          reinterpret_cast<uint32_t*>(db + r * row_dst + c), row_dst);
      return;
    }
  }
#endif
  for (int64_t r = r0; r < r1; ++r) {
    U* drow = db + r * row_dst;
    const U* scol = sb + r;
    for (int64_t c = c0; c < c1; ++c) drow[c] = scol[c * col_src];
  }
}

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
          Odometer o = row_odometer(d, s, dst_st, b);
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
    // Each work item is a strip of tiles along the longer of the two dims, covering the
    // whole shorter one, so that both its reads and its writes are whole cache lines
    // (NCHW->NHWC: a strip of pixels with all channels; NHWC->NCHW: the same from the other
    // side).
    const bool strip_of_rows = R >= C;
    const int64_t strips = ((strip_of_rows ? R : C) + kTile - 1) / kTile;
    const int64_t items = (total / (R * C)) * strips;
    dispatch_size(es, S, D, [&](const auto* Su, auto* Du) {
      parallel_for(
          items,
          [&](int64_t b, int64_t e) {
            Odometer o = proto;
            o.seek(b / strips);
            int64_t k = b % strips;
            for (int64_t it = b; it < e; ++it) {
              const auto* sb = Su + o.src;
              auto* db = Du + o.dst;
              if (strip_of_rows) {
                const int64_t r0 = k * kTile, r1 = std::min(R, r0 + kTile);
                for (int64_t c0 = 0; c0 < C; c0 += kTile)
                  transpose_tile(sb, db, r0, r1, c0, std::min(C, c0 + kTile), row_dst, inner_stride);
              } else {
                const int64_t c0 = k * kTile, c1 = std::min(C, c0 + kTile);
                for (int64_t r0 = 0; r0 < R; r0 += kTile)
                  transpose_tile(sb, db, r0, std::min(R, r0 + kTile), c0, c1, row_dst, inner_stride);
              }
              if (++k == strips) {
                k = 0;
                o.next();
              }
            }
          },
          grain_for(kTile * (strip_of_rows ? C : R) * static_cast<int64_t>(es)));
    });
    return;
  }

  // No contiguous source dim (stepped slices, broadcasts): element by element.
  const int64_t rows = total / inner;
  dispatch_size(es, S, D, [&](const auto* Su, auto* Du) {
    parallel_for(
        rows,
        [&](int64_t b, int64_t e) {
          Odometer o = row_odometer(d, s, dst_st, b);
          for (int64_t r = b; r < e; ++r, o.next()) {
            auto* drow = Du + r * inner;
            const auto* srow = Su + o.src;
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
