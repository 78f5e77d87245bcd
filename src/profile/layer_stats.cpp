#include "profile/layer_stats.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/parallel.h"
#include "util/error.h"

namespace dpl {

namespace {

// Fixed blocks whose partial sums are combined in block order: the same result whatever the
// thread count.
constexpr int64_t kBlock = 16384;

// Float partial sums over chunks of kChunk elements (a few per SIMD lane, so rounding stays
// near float epsilon), added up in double.
constexpr int64_t kChunk = 512;

void block_sums(const float* x, const float* y, int64_t n, PairSums& s) {
  double dot = 0, xx = 0, yy = 0, ee = 0;
  float xl = s.x_min, xh = s.x_max, yl = s.y_min, yh = s.y_max;
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t m = std::min(kChunk, n - c);
    const float* xc = x + c;
    const float* yc = y + c;
    float fd = 0, fx = 0, fy = 0, fe = 0;
#pragma omp simd reduction(+ : fd, fx, fy, fe) reduction(min : xl, yl) reduction(max : xh, yh)
    for (int64_t i = 0; i < m; ++i) {
      const float a = xc[i], b = yc[i], d = a - b;
      fd += a * b;
      fx += a * a;
      fy += b * b;
      fe += d * d;
      xl = a < xl ? a : xl;
      xh = a > xh ? a : xh;
      yl = b < yl ? b : yl;
      yh = b > yh ? b : yh;
    }
    dot += fd;
    xx += fx;
    yy += fy;
    ee += fe;
  }
  s.dot = dot;
  s.xx = xx;
  s.yy = yy;
  s.ee = ee;
  s.x_min = xl;
  s.x_max = xh;
  s.y_min = yl;
  s.y_max = yh;
  s.count = n;
}

void combine(PairSums& a, const PairSums& b) {
  a.dot += b.dot;
  a.xx += b.xx;
  a.yy += b.yy;
  a.ee += b.ee;
  a.x_min = std::min(a.x_min, b.x_min);
  a.x_max = std::max(a.x_max, b.x_max);
  a.y_min = std::min(a.y_min, b.y_min);
  a.y_max = std::max(a.y_max, b.y_max);
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
  x_min_ = std::min(x_min_, s.x_min);
  x_max_ = std::max(x_max_, s.x_max);
  y_min_ = std::min(y_min_, s.y_min);
  y_max_ = std::max(y_max_, s.y_max);
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
  x_min_ = std::min(x_min_, o.x_min_);
  x_max_ = std::max(x_max_, o.x_max_);
  y_min_ = std::min(y_min_, o.y_min_);
  y_max_ = std::max(y_max_, o.y_max_);
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
