#include "calib/stat_kernels.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <mutex>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "calib/page_buffer.h"
#include "runtime/parallel.h"

// The 64-byte vector helpers below are internal and inlined: GCC's note that their calling
// convention differs without AVX-512 does not concern them.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace dpl::calib {

namespace {

// 16 floats at a time with GCC/Clang vector extensions: one AVX-512 register, two AVX2 ones.
constexpr int kLanes = 16;
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
constexpr int kChunk = 256;  // float partial sums cover at most 16 values per lane

inline vf load(const float* p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}
inline vf splat(float x) { return vf{} + x; }
inline vf vabs(vf v) { return reinterpret_cast<vf>(reinterpret_cast<vi>(v) & 0x7fffffff); }

// Partial float sums (16 lanes) are added into 16 double lanes, summed in order at the end.
typedef float vf8 __attribute__((vector_size(32)));
typedef double vd8 __attribute__((vector_size(64)));
struct DoubleLanes {
  vd8 lo = {}, hi = {};
  void add(vf f) {
    vf8 a, b;
    __builtin_memcpy(&a, &f, sizeof(a));
    __builtin_memcpy(&b, reinterpret_cast<const char*>(&f) + sizeof(a), sizeof(b));
    lo += __builtin_convertvector(a, vd8);
    hi += __builtin_convertvector(b, vd8);
  }
  double total() const {
    double s = 0;
    for (int j = 0; j < 8; ++j) s += lo[j];
    for (int j = 0; j < 8; ++j) s += hi[j];
    return s;
  }
};

// Runs f(block) for blocks [0, nblocks); in parallel when there is enough work.
template <typename F>
void for_blocks(int64_t elements, int64_t nblocks, F&& f) {
  if (elements < 2 * kStatBlock || num_threads() <= 1) {
    for (int64_t k = 0; k < nblocks; ++k) f(k);
    return;
  }
  parallel_for(
      nblocks, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) f(k);
      },
      0);
}

inline bool finite_abs(float a) { return a <= FLT_MAX; }  // false for NaN and Inf

// Sum and count of the finite |x| above a threshold; in the first pass also min/max and the
// count of finite values.
struct BlockSums {
  double sum = 0;
  int64_t count = 0;
  int64_t finite = 0;
  MinMaxF mm;
};

// ---- Portable versions: any data (NaN and Inf are skipped), any target. ----

MinMaxF careful_minmax(const float* p, int64_t n) {
  // Four independent accumulators: the compare/blend latency does not chain.
  vf lo[4], hi[4];
  for (int u = 0; u < 4; ++u) lo[u] = splat(INFINITY), hi[u] = splat(-INFINITY);
  const vf big = splat(FLT_MAX), nbig = splat(-FLT_MAX);
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes)
    for (int u = 0; u < 4; ++u) {
      const vf v = load(p + i + u * kLanes);
      lo[u] = ((v < lo[u]) & (v >= nbig)) ? v : lo[u];  // NaN and -Inf never taken
      hi[u] = ((v > hi[u]) & (v <= big)) ? v : hi[u];
    }
  MinMaxF r;
  for (int u = 0; u < 4; ++u)
    for (int j = 0; j < kLanes; ++j) r.add({lo[u][j], hi[u][j]});
  for (; i < n; ++i) {
    const float v = p[i];
    if (finite_abs(std::fabs(v))) r.add({v, v});
  }
  return r;
}

// First OCTAV pass: sum|x|, count(|x| > 0), finite count, min/max.
BlockSums careful_pass1(const float* p, int64_t n) {
  const vf big = splat(FLT_MAX), nbig = splat(-FLT_MAX);
  vf lo = splat(INFINITY), hi = splat(-INFINITY);
  vi cnt = {}, fin = {};
  BlockSums b;
  int64_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    vf fs = {};
    for (int r = 0; r < kChunk; r += kLanes) {
      const vf v = load(p + i + r);
      const vf a = vabs(v);
      const vi f = a <= big;
      const vi m = (a > 0.f) & f;
      fs += m ? a : vf{};
      cnt -= m;  // masks are -1
      fin -= f;
      lo = ((v < lo) & (v >= nbig)) ? v : lo;
      hi = ((v > hi) & (v <= big)) ? v : hi;
    }
    double c = 0;  // per chunk in double, lanes in order
    for (int j = 0; j < kLanes; ++j) c += fs[j];
    b.sum += c;
  }
  for (int j = 0; j < kLanes; ++j) b.count += cnt[j], b.finite += fin[j], b.mm.add({lo[j], hi[j]});
  for (; i < n; ++i) {
    const float v = p[i];
    const float a = std::fabs(v);
    if (!finite_abs(a)) continue;
    if (a > 0.f) b.sum += a, ++b.count;
    ++b.finite, b.mm.add({v, v});
  }
  return b;
}

// Sum and count of the finite |x| > t in p[0..n) (t >= 0), writing those |x| in order to
// out[0..count). abs_done: p holds such |x| already (the output of an earlier scan); out may
// be p (every write lands at or before the element being read).
BlockSums careful_scan(const float* p, int64_t n, float t, float* out, bool abs_done) {
  BlockSums b;
  int64_t i = 0, k = 0;
  for (; i + kChunk <= n; i += kChunk) {
    float fs[kLanes] = {};
    for (int r = 0; r < kChunk; r += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const float a = abs_done ? p[i + r + j] : std::fabs(p[i + r + j]);
        const bool m = a > t && a <= FLT_MAX;
        fs[j] += m ? a : 0.f;
        out[k] = a;
        k += m;
      }
    double c = 0;
    for (int j = 0; j < kLanes; ++j) c += fs[j];
    b.sum += c;
  }
  for (; i < n; ++i) {
    const float a = std::fabs(p[i]);
    if (a > t && finite_abs(a)) b.sum += a, out[k++] = a;
  }
  b.count = k;
  return b;
}

// ---- Fast versions for finite data: fewer instructions per element, because NaN and Inf
// need no test of their own. They report (return false) when the block turns out to hold a
// non-finite value, and the caller runs the portable version on it instead.
inline bool finite_mm(const MinMaxF& m) { return finite_abs(std::fabs(m.lo)) && finite_abs(std::fabs(m.hi)); }

bool fast_minmax(const float* p, int64_t n, MinMaxF& r) {
  vf lo[4], hi[4];
  for (int u = 0; u < 4; ++u) lo[u] = splat(INFINITY), hi[u] = splat(-INFINITY);
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes)
    for (int u = 0; u < 4; ++u) {
      const vf v = load(p + i + u * kLanes);
      lo[u] = v < lo[u] ? v : lo[u];  // min/max instructions; a NaN v is never taken
      hi[u] = v > hi[u] ? v : hi[u];
    }
  r = MinMaxF{};
  for (int u = 0; u < 4; ++u)
    for (int j = 0; j < kLanes; ++j) r.add({lo[u][j], hi[u][j]});
  for (; i < n; ++i) {
    const float v = p[i];
    if (v == v) r.add({v, v});
  }
  // An infinite value would be the min or the max.
  return r.empty() || finite_mm(r);
}

bool fast_pass1(const float* p, int64_t n, BlockSums& b) {
  if (n % kChunk != 0) return false;  // short blocks: the portable version
  vf lo[4], hi[4];
  for (int u = 0; u < 4; ++u) lo[u] = splat(INFINITY), hi[u] = splat(-INFINITY);
  vi cnt = {};
  DoubleLanes sum;
  for (int64_t i = 0; i < n; i += kChunk) {
    vf acc[4] = {};
    for (int r = 0; r < kChunk; r += 4 * kLanes)
      for (int u = 0; u < 4; ++u) {
        const vf v = load(p + i + r + u * kLanes);
        const vf a = vabs(v);
        acc[u] += a;  // NaN or Inf makes the sum non-finite
        cnt -= a > 0.f;
        lo[u] = v < lo[u] ? v : lo[u];
        hi[u] = v > hi[u] ? v : hi[u];
      }
    sum.add((acc[0] + acc[1]) + (acc[2] + acc[3]));
  }
  b = BlockSums{};
  b.sum = sum.total();
  for (int u = 0; u < 4; ++u)
    for (int j = 0; j < kLanes; ++j) b.mm.add({lo[u][j], hi[u][j]});
  for (int j = 0; j < kLanes; ++j) b.count += cnt[j];
  b.finite = n;
  return std::isfinite(b.sum) && (b.mm.empty() || finite_mm(b.mm));
}

#if defined(__AVX512F__)
inline __m512 abs512(__m512 v) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}

// Original data (not abs_done): +Inf would be counted and makes the sum infinite (NaN is
// never above t): then false. In place (out == p), every store lands at or before the
// vector just read; the last, partial vector stores only what it keeps.
bool fast_scan(const float* p, int64_t n, float t, float* out, bool abs_done, BlockSums& b) {
  const __m512 vt = _mm512_set1_ps(t);
  DoubleLanes sum;
  int64_t i = 0, k = 0;
  auto one = [&](__m512& acc, __m512 a, bool last, __mmask16 valid) {
    if (!abs_done) a = abs512(a);
    const __mmask16 m = _mm512_mask_cmp_ps_mask(valid, a, vt, _CMP_GT_OQ);
    acc = _mm512_mask_add_ps(acc, m, acc, a);
    if (last)
      _mm512_mask_compressstoreu_ps(out + k, m, a);
    else
      _mm512_storeu_ps(out + k, _mm512_maskz_compress_ps(m, a));
    k += __builtin_popcount(m);
  };
  auto flush = [&](__m512 f) {
    vf v;
    __builtin_memcpy(&v, &f, sizeof(v));
    sum.add(v);
  };
  for (; i + kChunk <= n; i += kChunk) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int r = 0; r < kChunk; r += 4 * kLanes)
      for (int u = 0; u < 4; ++u) one(acc[u], _mm512_loadu_ps(p + i + r + u * kLanes), false, 0xffff);
    flush(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
  }
  if (i < n) {  // the rest: under 16 vectors
    __m512 acc = _mm512_setzero_ps();
    for (; i + kLanes <= n; i += kLanes) one(acc, _mm512_loadu_ps(p + i), false, 0xffff);
    if (i < n) {
      const __mmask16 valid = static_cast<__mmask16>((1u << (n - i)) - 1);
      one(acc, _mm512_maskz_loadu_ps(valid, p + i), true, valid);
    }
    flush(acc);
  }
  b = BlockSums{};
  b.sum = sum.total();
  b.count = k;
  return std::isfinite(b.sum);
}
#endif

MinMaxF block_minmax(const float* p, int64_t n) {
  MinMaxF r;
  if (fast_minmax(p, n, r)) return r;
  return careful_minmax(p, n);
}

BlockSums block_pass1(const float* p, int64_t n) {
  BlockSums b;
  if (fast_pass1(p, n, b)) return b;
  return careful_pass1(p, n);
}

BlockSums block_scan(const float* p, int64_t n, float t, float* out, bool abs_done) {
#if defined(__AVX512F__)
  BlockSums b;
  if (fast_scan(p, n, t, out, abs_done, b)) return b;
#endif
  return careful_scan(p, n, t, out, abs_done);
}

// Largest float <= s (s >= 0, finite): for float a, a > s exactly when a > floor_float(s).
float floor_float(double s) {
  float f = static_cast<float>(s);
  if (static_cast<double>(f) > s) f = std::nextafter(f, -INFINITY);
  return f;
}

}  // namespace

MinMaxF finite_minmax(const float* p, int64_t n) {
  const int64_t nb = (n + kStatBlock - 1) / kStatBlock;
  if (nb <= 1) return block_minmax(p, n);
  MinMaxF r;
  std::mutex mu;
  for_blocks(n, nb, [&](int64_t k) {
    const int64_t b = k * kStatBlock;
    const MinMaxF m = block_minmax(p + b, std::min(kStatBlock, n - b));
    std::lock_guard<std::mutex> lock(mu);  // min and max: the order does not matter
    r.add(m);
  });
  return r;
}

void abs_histogram(const float* p, int64_t n, float amax, int bins, uint64_t* counts) {
  if (n <= 0) return;
  if (!(amax > 0.f) || !std::isfinite(amax)) {
    int64_t fin = 0;
    for (int64_t i = 0; i < n; ++i) fin += finite_abs(std::fabs(p[i]));
    counts[0] += static_cast<uint64_t>(fin);
    return;
  }
  const float scale = static_cast<float>(bins) / amax;
  const float top = static_cast<float>(bins - 1);
  // Bin of each value; non-finite values go to the extra bin `bins`, which is dropped.
  auto bin_of = [=](float v) {
    const float a = std::fabs(v);
    float f = a * scale;
    f = f < top ? f : top;  // NaN -> top
    const int k = static_cast<int>(f);
    return a <= FLT_MAX ? k : bins;
  };
  if (n < 4096) {
    for (int64_t i = 0; i < n; ++i) {
      const int k = bin_of(p[i]);
      if (k < bins) ++counts[k];
    }
    return;
  }
  // kSubs interleaved 16-bit sub-histograms per thread (32 KiB for 2048 bins: L1), so that a
  // run of values in one bin (most activations sit in the lowest bins) increments several
  // counters in turn instead of waiting on one. They are added into `counts` before a 16-bit
  // counter can overflow, over the bins actually reached only, and left zeroed.
  constexpr int kSubs = 8;
  constexpr int64_t kFlush = int64_t{kSubs} * 65280;  // a multiple of kChunk, <= kSubs * 65535
  const int64_t stride = bins + 1;
  const vf vscale = splat(scale), vtop = splat(top), vbig = splat(FLT_MAX);
  const vi vbins = vi{} + bins;
  // Lane j of a vector counts into sub-histogram j % kSubs: its bin index carries the offset.
  vi lane_offset;
  for (int j = 0; j < kLanes; ++j) lane_offset[j] = static_cast<int32_t>((j % kSubs) * stride);
  std::mutex mu;
  auto work = [&](int64_t b, int64_t e) {
    thread_local PageBuffer<uint16_t> sub;  // zero between calls
    uint16_t* h = sub.ensure(static_cast<size_t>(kSubs * stride));
    int32_t idx[kChunk];
    for (int64_t c0 = b; c0 < e; c0 += kFlush) {
      const int64_t c1 = std::min(e, c0 + kFlush);
      vi top_bin = {};
      for (int64_t i = c0; i < c1; i += kChunk) {
        const int m = static_cast<int>(std::min<int64_t>(kChunk, c1 - i));
        const float* q = p + i;
        if (m == kChunk) {
          for (int j0 = 0; j0 < kChunk; j0 += kLanes) {
            const vf a = vabs(load(q + j0));
            vf f = a * vscale;
            f = f < vtop ? f : vtop;  // NaN -> top
            const vi k = __builtin_convertvector(f, vi);
            const vi kk = a <= vbig ? k : vbins;
            top_bin = kk > top_bin ? kk : top_bin;
            const vi at = kk + lane_offset;
            __builtin_memcpy(idx + j0, &at, sizeof(at));
          }
          for (int j = 0; j < kChunk; ++j) ++h[idx[j]];
        } else {
          for (int j = 0; j < m; ++j) {
            const int k = bin_of(q[j]);
            top_bin[0] = std::max(top_bin[0], k);
            ++h[k];
          }
        }
      }
      int hi = 0;
      for (int l = 0; l < kLanes; ++l) hi = std::max(hi, top_bin[l]);
      std::lock_guard<std::mutex> lock(mu);
      for (int k = 0; k <= hi; ++k) {
        uint64_t c = 0;
        for (int u = 0; u < kSubs; ++u) c += h[u * stride + k], h[u * stride + k] = 0;
        if (k < bins) counts[k] += c;
      }
    }
  };
  if (n < 2 * kStatBlock)
    work(0, n);
  else
    parallel_for(n, work, 0);
}

void abs_histogram_tail(const float* p, int64_t n, float amax, int bins, int from, uint64_t* counts, uint64_t* below) {
  if (from <= 0) return abs_histogram(p, n, amax, bins, counts);
  if (n <= 0) return;
  if (!(amax > 0.f) || !std::isfinite(amax)) {  // everything is in bin 0, below `from`
    int64_t fin = 0;
    for (int64_t i = 0; i < n; ++i) fin += finite_abs(std::fabs(p[i]));
    *below += static_cast<uint64_t>(fin);
    return;
  }
  const float scale = static_cast<float>(bins) / amax;
  const float top = static_cast<float>(bins - 1);
  const float cut = static_cast<float>(from);  // bin(x) < from exactly when |x| * scale < from
  std::mutex mu;
  auto work = [&](int64_t b, int64_t e) {
    uint64_t low = 0;
    thread_local PageBuffer<uint64_t> local_buf;  // zero between calls
    uint64_t* local = local_buf.ensure(static_cast<size_t>(bins));
    int lo_bin = bins, hi_bin = -1;
    auto add_high = [&](float f) {
      const int k = static_cast<int>(f < top ? f : top);
      ++local[k];
      lo_bin = std::min(lo_bin, k), hi_bin = std::max(hi_bin, k);
    };
    int64_t i = b;
#if defined(__AVX512F__)
    const __m512 vs = _mm512_set1_ps(scale), vc = _mm512_set1_ps(cut), big = _mm512_set1_ps(FLT_MAX);
    for (; i + kLanes <= e; i += kLanes) {
      const __m512 a = abs512(_mm512_loadu_ps(p + i));
      const __m512 f = _mm512_mul_ps(a, vs);
      const __mmask16 fin = _mm512_cmp_ps_mask(a, big, _CMP_LE_OQ);
      const __mmask16 lowm = _mm512_mask_cmp_ps_mask(fin, f, vc, _CMP_LT_OQ);
      low += static_cast<uint64_t>(__builtin_popcount(lowm));
      unsigned highm = fin & ~lowm & 0xffffu;
      if (__builtin_expect(highm != 0, 0)) {
        alignas(64) float fl[kLanes];
        _mm512_store_ps(fl, f);
        for (; highm; highm &= highm - 1) add_high(fl[__builtin_ctz(highm)]);
      }
    }
#else
    const vf vs = splat(scale), vc = splat(cut), big = splat(FLT_MAX);
    for (; i + kLanes <= e; i += kLanes) {
      const vf a = vabs(load(p + i));
      const vf f = a * vs;
      const vi fin = a <= big;
      const vi lowm = (f < vc) & fin;
      const vi highm = fin & ~lowm;
      for (int j = 0; j < kLanes; ++j) low -= static_cast<uint64_t>(static_cast<int64_t>(lowm[j]));
      bool any = false;
      for (int j = 0; j < kLanes; ++j) any |= highm[j] != 0;
      if (any)
        for (int j = 0; j < kLanes; ++j)
          if (highm[j]) add_high(f[j]);
    }
#endif
    for (; i < e; ++i) {
      const float a = std::fabs(p[i]);
      if (!finite_abs(a)) continue;
      const float f = a * scale;
      if (f < cut)
        ++low;
      else
        add_high(f);
    }
    std::lock_guard<std::mutex> lock(mu);
    *below += low;
    for (int k = lo_bin; k <= hi_bin; ++k) counts[k] += local[k], local[k] = 0;
  };
  if (n < 2 * kStatBlock)
    work(0, n);
  else
    parallel_for(n, work, 0);
}

std::vector<OctavResult> octav_clip(const float* p, int64_t parts, int64_t part_size, int bits, bool dynamic_sym,
                                    PageBuffer<float>& scratch) {
  std::vector<OctavResult> res(parts);
  if (parts <= 0) return res;
  const int64_t nb = std::max<int64_t>(1, (part_size + kStatBlock - 1) / kStatBlock);
  auto block_len = [&](int64_t k) { return std::min(kStatBlock, part_size - k * kStatBlock); };

  // Pass 1: min/max, sum|x|, count(|x| > 0), count of finite values, per block.
  std::vector<BlockSums> blk(parts * nb);
  for_blocks(parts * part_size, parts * nb, [&](int64_t id) {
    const int64_t part = id / nb, k = id % nb;
    blk[id] = block_pass1(p + part * part_size + k * kStatBlock, std::max<int64_t>(0, block_len(k)));
  });
  std::vector<double> s(parts), eps(parts);
  std::vector<int64_t> finite(parts);
  std::vector<int64_t> active;
  for (int64_t i = 0; i < parts; ++i) {
    double sum = 0;
    int64_t nz = 0;
    for (int64_t k = 0; k < nb; ++k) {
      const BlockSums& b = blk[i * nb + k];
      sum += b.sum, nz += b.count, finite[i] += b.finite;
      res[i].range.add(b.mm);
    }
    const bool u4 = dynamic_sym && !res[i].range.empty() && std::fabs(static_cast<double>(res[i].range.lo)) < 1e-6;
    eps[i] = std::ldexp(1.0, -2 * bits) / 3.0 / (u4 ? 4.0 : 1.0);
    if (nz == 0) {
      // 0 / 0 in the original: the clip is NaN (and the tensor's range falls back to min/max).
      res[i].s = std::nan("");
      continue;
    }
    s[i] = sum / static_cast<double>(nz);
    active.push_back(i);
  }

  // Newton steps, all unfinished samples together. Every scan also keeps the |x| it summed
  // (those above the threshold) in `scratch`, block by block; a later threshold at or above
  // that one only needs them. Iterates mostly grow, so each step reads less; one that falls
  // below reads the sample again.
  float* const scratch_data = scratch.ensure(static_cast<size_t>(parts * part_size));
  std::vector<int64_t> len(parts * nb, 0);
  std::vector<float> thr(parts), kept_above(parts, INFINITY);  // scratch holds |x| > kept_above
  std::vector<char> from_scratch(parts, 0);
  for (int step = 0; step < 20 && !active.empty(); ++step) {
    for (int64_t i : active) {
      thr[i] = floor_float(s[i]);
      from_scratch[i] = thr[i] >= kept_above[i];
    }
    const int64_t na = static_cast<int64_t>(active.size());
    for_blocks(na * part_size, na * nb, [&](int64_t id) {
      const int64_t i = active[id / nb], k = id % nb;
      float* buf = scratch_data + i * part_size + k * kStatBlock;
      const int64_t j = i * nb + k;
      if (from_scratch[i])
        blk[j] = block_scan(buf, len[j], thr[i], buf, true);
      else
        blk[j] = block_scan(p + i * part_size + k * kStatBlock, std::max<int64_t>(0, block_len(k)), thr[i], buf, false);
      len[j] = blk[j].count;
    });
    std::vector<int64_t> still;
    for (int64_t i : active) {
      kept_above[i] = thr[i];
      double sum = 0;
      int64_t above = 0;
      for (int64_t k = 0; k < nb; ++k) sum += blk[i * nb + k].sum, above += blk[i * nb + k].count;
      const double below = static_cast<double>(finite[i] - above);
      const double next = sum / (eps[i] * below + static_cast<double>(above));
      res[i].steps = step + 1;
      if (std::fabs(next - s[i]) < 1e-6) continue;  // converged: keep s_n, as the original
      s[i] = next;
      still.push_back(i);
    }
    active.swap(still);
  }
  for (int64_t i = 0; i < parts; ++i)
    if (!std::isnan(res[i].s)) res[i].s = s[i];
  return res;
}

}  // namespace dpl::calib
