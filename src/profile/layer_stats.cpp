#include "profile/layer_stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "runtime/parallel.h"
#include "util/error.h"

namespace dpl {

namespace {

// Fixed blocks whose partial sums are combined in block order: the same result whatever the
// thread count.
constexpr int64_t kBlock = 16384;

// GCC vector extensions: 16 floats, whatever SIMD width the target has.
typedef float v16f __attribute__((vector_size(64)));

inline v16f load16(const float* p) {
  v16f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline double hsum(v16f v) {
  double s = 0;
  for (int l = 0; l < 16; ++l) s += v[l];
  return s;
}

// Float partial sums in two independent sets of 16 lanes (so that the additions do not wait
// on each other) over chunks of kChunk elements (32 terms per lane: rounding stays near float
// epsilon), added up in double per chunk; the tail in double.
constexpr int64_t kChunk = 1024;

void block_sums(const float* x, const float* y, int64_t n, PairSums& s) {
  double dot = 0, xx = 0, yy = 0, ee = 0;
  int64_t i = 0;
  while (i + 32 <= n) {
    v16f d0{}, d1{}, x0{}, x1{}, y0{}, y1{}, e0{}, e1{};
    const int64_t end = i + std::min<int64_t>(kChunk, (n - i) / 32 * 32);
    for (; i < end; i += 32) {
      const v16f a0 = load16(x + i), a1 = load16(x + i + 16), b0 = load16(y + i), b1 = load16(y + i + 16);
      const v16f c0 = a0 - b0, c1 = a1 - b1;
      d0 += a0 * b0, d1 += a1 * b1;
      x0 += a0 * a0, x1 += a1 * a1;
      y0 += b0 * b0, y1 += b1 * b1;
      e0 += c0 * c0, e1 += c1 * c1;
    }
    dot += hsum(d0 + d1), xx += hsum(x0 + x1), yy += hsum(y0 + y1), ee += hsum(e0 + e1);
  }
  for (; i < n; ++i) {
    const double a = x[i], b = y[i], d = a - b;
    dot += a * b, xx += a * a, yy += b * b, ee += d * d;
  }
  s.dot = dot;
  s.xx = xx;
  s.yy = yy;
  s.ee = ee;
  s.count = n;
}

void combine(PairSums& a, const PairSums& b) {
  a.dot += b.dot;
  a.xx += b.xx;
  a.yy += b.yy;
  a.ee += b.ee;
  a.count += b.count;
}

}  // namespace

PairSums pair_sums(const float* x, const float* y, int64_t n) {
  PairSums total;
  if (n <= kBlock) {
    block_sums(x, y, n, total);
    return total;
  }
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<PairSums> part(blocks);
  parallel_for(
      blocks,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t off = b * kBlock;
          block_sums(x + off, y + off, std::min(kBlock, n - off), part[b]);
        }
      },
      1);
  for (const auto& p : part) combine(total, p);
  return total;
}

double sample_cosine(const PairSums& s) {
  if (s.dot == 0) return 0.0;
  return s.dot / std::sqrt(s.xx) / std::sqrt(s.yy);
}

void ErrorStats::add_sample(const PairSums& s) {
  const double c = sample_cosine(s);
  ++samples_;
  cos_sum_ += c;
  cos_min_ = std::min(cos_min_, c);
  dot_ += s.dot;
  xx_ += s.xx;
  yy_ += s.yy;
  ee_ += s.ee;
}

void ErrorStats::add_batch(const Tensor& fp, const Tensor& q, int batch) {
  DPL_CHECK(fp.dtype() == DType::F32 && q.dtype() == DType::F32, "profiling compares float32 tensors");
  DPL_CHECK(fp.numel() == q.numel(), "FP32 tensor has shape {}, the quantized one {}", shape_str(fp.shape()),
            shape_str(q.shape()));
  const float* x = fp.data<float>();
  const float* y = q.data<float>();
  const bool rows = batch > 1 && fp.rank() > 0 && fp.dim(0) == batch && q.rank() > 0 && q.dim(0) == batch;
  if (!rows) {
    // One figure for the whole batch: its sums count once (they already cover every sample),
    // its cosine once per sample.
    const PairSums s = pair_sums(x, y, fp.numel());
    add_sample(s);
    const double c = sample_cosine(s);
    for (int b = 1; b < batch; ++b) ++samples_, cos_sum_ += c;
    return;
  }
  const int64_t per = fp.numel() / batch;
  for (int b = 0; b < batch; ++b) add_sample(pair_sums(x + b * per, y + b * per, per));
}

void ErrorStats::merge(const ErrorStats& o) {
  samples_ += o.samples_;
  cos_sum_ += o.cos_sum_;
  cos_min_ = std::min(cos_min_, o.cos_min_);
  dot_ += o.dot_;
  xx_ += o.xx_;
  yy_ += o.yy_;
  ee_ += o.ee_;
}

std::string ErrorStats::serialize() const {
  const double v[7] = {static_cast<double>(samples_), cos_sum_, cos_min_, dot_, xx_, yy_, ee_};
  return std::string(reinterpret_cast<const char*>(v), sizeof v);
}

void ErrorStats::merge_serialized(std::string_view bytes) {
  double v[7];
  DPL_CHECK(bytes.size() == sizeof v, "error statistics of {} bytes cannot be merged (expected {})", bytes.size(),
            sizeof v);
  std::memcpy(v, bytes.data(), sizeof v);
  ErrorStats o;
  o.samples_ = static_cast<int64_t>(v[0]);
  o.cos_sum_ = v[1];
  o.cos_min_ = v[2];
  o.dot_ = v[3];
  o.xx_ = v[4];
  o.yy_ = v[5];
  o.ee_ = v[6];
  merge(o);
}

double ErrorStats::mean_cosine() const { return samples_ ? cos_sum_ / static_cast<double>(samples_) : 0.0; }

double ErrorStats::pooled_cosine() const {
  if (dot_ == 0) return 0.0;
  return dot_ / std::sqrt(xx_) / std::sqrt(yy_);
}

double ErrorStats::rel_mse() const {
  if (ee_ == 0) return 0.0;
  if (xx_ == 0) return std::numeric_limits<double>::infinity();
  return ee_ / xx_;
}

double ErrorStats::sqnr_db() const {
  if (ee_ == 0) return std::numeric_limits<double>::infinity();
  if (xx_ == 0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(xx_ / ee_);
}

}  // namespace dpl
