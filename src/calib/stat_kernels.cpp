#include "calib/stat_kernels.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <mutex>

#include "runtime/parallel.h"

namespace dpl::calib {

namespace {

constexpr int kLanes = 16;    // one AVX-512 register of floats (two AVX2 ones)
constexpr int kChunk = 256;   // float partial sums cover at most 16 values per lane

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

MinMaxF block_minmax(const float* p, int64_t n) {
  float lo[kLanes], hi[kLanes];
  for (int j = 0; j < kLanes; ++j) lo[j] = INFINITY, hi[j] = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float v = p[i + j];
      lo[j] = (v < lo[j] && v >= -FLT_MAX) ? v : lo[j];
      hi[j] = (v > hi[j] && v <= FLT_MAX) ? v : hi[j];
    }
  MinMaxF r;
  for (int j = 0; j < kLanes; ++j) r.add({lo[j], hi[j]});
  for (; i < n; ++i) {
    const float v = p[i];
    if (finite_abs(std::fabs(v))) r.add({v, v});
  }
  return r;
}

// Sum and count of the finite |x| above `t` (t >= 0), plus (first pass only) min/max,
// count of nonzero and of finite values.
struct BlockSums {
  double sum = 0;
  int64_t count = 0;
  int64_t finite = 0;
  MinMaxF mm;
};

// Sum/count of finite |x| > t. With t = 0 this is sum|x| and count(|x| > 0).
BlockSums block_above(const float* p, int64_t n, float t, bool first_pass) {
  double dsum[kLanes] = {};
  int32_t cnt[kLanes] = {}, fin[kLanes] = {};
  int64_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    float fs[kLanes] = {};
    for (int r = 0; r < kChunk; r += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const float a = std::fabs(p[i + r + j]);
        const bool m = a > t && a <= FLT_MAX;
        fs[j] += m ? a : 0.f;
        cnt[j] += m;
      }
    for (int j = 0; j < kLanes; ++j) dsum[j] += fs[j];
  }
  BlockSums b;
  for (int j = 0; j < kLanes; ++j) b.sum += dsum[j], b.count += cnt[j];
  for (int64_t k = i; k < n; ++k) {
    const float a = std::fabs(p[k]);
    if (a > t && finite_abs(a)) b.sum += a, ++b.count;
  }
  if (first_pass) {
    // Finite count and min/max: a second, cheap sweep over data that is in cache now.
    for (i = 0; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) fin[j] += std::fabs(p[i + j]) <= FLT_MAX;
    for (int j = 0; j < kLanes; ++j) b.finite += fin[j];
    for (; i < n; ++i) b.finite += finite_abs(std::fabs(p[i]));
    b.mm = block_minmax(p, n);
  }
  return b;
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
  std::vector<MinMaxF> part(nb);
  for_blocks(n, nb, [&](int64_t k) {
    const int64_t b = k * kStatBlock;
    part[k] = block_minmax(p + b, std::min(kStatBlock, n - b));
  });
  MinMaxF r;
  for (const auto& m : part) r.add(m);
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
  // Four interleaved 32-bit sub-histograms per thread: runs of equal bins (zeros after a
  // Relu) do not serialize on one counter. At most 2^30 elements per flush.
  const int64_t stride = bins + 1;
  std::mutex mu;
  auto work = [&](int64_t b, int64_t e) {
    thread_local std::vector<uint32_t> sub;
    int32_t idx[kChunk];
    for (int64_t c0 = b; c0 < e; c0 += int64_t{1} << 30) {
      const int64_t c1 = std::min(e, c0 + (int64_t{1} << 30));
      sub.assign(static_cast<size_t>(4 * stride), 0u);
      uint32_t* s0 = sub.data();
      uint32_t* s1 = s0 + stride;
      uint32_t* s2 = s1 + stride;
      uint32_t* s3 = s2 + stride;
      for (int64_t i = c0; i < c1; i += kChunk) {
        const int m = static_cast<int>(std::min<int64_t>(kChunk, c1 - i));
        const float* q = p + i;
        for (int j = 0; j < m; ++j) idx[j] = bin_of(q[j]);
        int j = 0;
        for (; j + 4 <= m; j += 4) {
          ++s0[idx[j]];
          ++s1[idx[j + 1]];
          ++s2[idx[j + 2]];
          ++s3[idx[j + 3]];
        }
        for (; j < m; ++j) ++s0[idx[j]];
      }
      std::lock_guard<std::mutex> lock(mu);
      for (int k = 0; k < bins; ++k)
        counts[k] += uint64_t{s0[k]} + uint64_t{s1[k]} + uint64_t{s2[k]} + uint64_t{s3[k]};
    }
  };
  if (n < 2 * kStatBlock)
    work(0, n);
  else
    parallel_for(n, work, 0);
}

std::vector<OctavResult> octav_clip(const float* p, int64_t parts, int64_t part_size, int bits, bool dynamic_sym) {
  std::vector<OctavResult> res(parts);
  if (parts <= 0) return res;
  const int64_t nb = std::max<int64_t>(1, (part_size + kStatBlock - 1) / kStatBlock);
  auto block_len = [&](int64_t k) { return std::min(kStatBlock, part_size - k * kStatBlock); };

  // Pass 1: min/max, sum|x|, count(|x| > 0), count of finite values, per block.
  std::vector<BlockSums> blk(parts * nb);
  for_blocks(parts * part_size, parts * nb, [&](int64_t id) {
    const int64_t part = id / nb, k = id % nb;
    blk[id] = block_above(p + part * part_size + k * kStatBlock, std::max<int64_t>(0, block_len(k)), 0.f, true);
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

  // Newton steps, all unfinished samples together.
  std::vector<float> thr(parts);
  for (int step = 0; step < 20 && !active.empty(); ++step) {
    for (int64_t i : active) thr[i] = floor_float(s[i]);
    const int64_t na = static_cast<int64_t>(active.size());
    for_blocks(na * part_size, na * nb, [&](int64_t id) {
      const int64_t i = active[id / nb], k = id % nb;
      blk[i * nb + k] = block_above(p + i * part_size + k * kStatBlock, std::max<int64_t>(0, block_len(k)), thr[i], false);
    });
    std::vector<int64_t> still;
    for (int64_t i : active) {
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
