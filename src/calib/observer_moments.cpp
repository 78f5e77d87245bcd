// The channel moments observer (see observer_moments.h).
#include "calib/observer_moments.h"

#include <algorithm>
#include <cmath>

#include "calib/observer_state.h"

namespace dpl {

namespace {
constexpr uint32_t kMomentsTag = 0x4d4f4d31;  // "MOM1"
constexpr const char* kKind = "a channel moments observer";
}  // namespace

ChannelMomentsObserver::ChannelMomentsObserver(std::map<std::string, int> axes, std::set<std::string> full,
                                               std::map<std::string, ChannelMoments::Lattice> lattices)
    : axes_(std::move(axes)), full_(std::move(full)), lattices_(std::move(lattices)) {}

namespace {

// sum over the rows of x ([rows, K], rows with a non-finite value skipped) of x x^T into
// `cross` (K x K); returns the rows taken. Float within a block of rows (vectorized), double
// across blocks.
double add_cross(const float* x, int64_t rows, int64_t K, std::vector<double>& cross) {
  constexpr int64_t kBlock = 256;
  std::vector<float> acc(static_cast<size_t>(K * K));
  double taken = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int64_t r = r0; r < std::min(rows, r0 + kBlock); ++r) {
      const float* row = x + r * K;
      bool finite = true;
      for (int64_t i = 0; i < K && finite; ++i) finite = std::isfinite(row[i]);
      if (!finite) continue;
      taken += 1;
      for (int64_t i = 0; i < K; ++i) {
        const float xi = row[i];
        float* a = acc.data() + i * K;
        for (int64_t j = 0; j < K; ++j) a[j] += xi * row[j];
      }
    }
    for (size_t k = 0; k < acc.size(); ++k) cross[k] += acc[k];
  }
  return taken;
}

// Per channel of x [N, C, H, W] and lattice offset (a dil_h, b dil_w), |a| < kh, |b| < kw: the
// sum of x(h, w) x(h + a dil_h, w + b dil_w) over the pairs inside the image (both finite),
// and their count, into sums / counts [C][2 kh - 1][2 kw - 1].
void add_autocorr(const Tensor& x, const ChannelMoments::Lattice& l, std::vector<double>& sums,
                  std::vector<double>& counts) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t A = 2 * l.kh - 1, B = 2 * l.kw - 1;
  const float* d = x.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t a = 0; a < A; ++a)
      for (int64_t b = 0; b < B; ++b) {
        const int64_t dy = (a - (l.kh - 1)) * l.dil_h, dx = (b - (l.kw - 1)) * l.dil_w;
        double sum = 0, n = 0;
        for (int64_t i = 0; i < N; ++i) {
          const float* img = d + (i * C + c) * H * W;
          for (int64_t h = std::max<int64_t>(0, -dy); h < std::min(H, H - dy); ++h) {
            const float* r0 = img + h * W;
            const float* r1 = img + (h + dy) * W;
            float row = 0;
            int64_t pairs = 0;
            for (int64_t w = std::max<int64_t>(0, -dx); w < std::min(W, W - dx); ++w) {
              const float p = r0[w] * r1[w + dx];
              if (std::isfinite(p)) row += p, ++pairs;
            }
            sum += row, n += static_cast<double>(pairs);
          }
        }
        const size_t k = static_cast<size_t>((c * A + a) * B + b);
        sums[k] += sum;
        counts[k] += n;
      }
}

}  // namespace

void ChannelMomentsObserver::observe(const std::string& name, const Tensor& value, int) {
  auto it = axes_.find(name);
  if (it == axes_.end() || value.dtype() != DType::F32 || value.numel() == 0 || value.rank() == 0) return;
  const int axis = it->second < 0 ? value.rank() + it->second : it->second;
  if (axis < 0 || axis >= value.rank()) return;  // a rank the layer's input cannot have
  int64_t outer = 1, inner = 1;
  const int64_t channels = value.dim(axis);
  for (int k = 0; k < axis; ++k) outer *= value.dim(k);
  for (int k = axis + 1; k < value.rank(); ++k) inner *= value.dim(k);
  Sums s;
  s.count.assign(channels, 0);
  s.sum.assign(channels, 0);
  s.sum_sq.assign(channels, 0);
  const float* d = value.data<float>();
  auto lat = lattices_.find(name);
  if (lat != lattices_.end() && value.rank() == 4 && axis == 1) {
    const auto& l = lat->second;
    const size_t n = static_cast<size_t>(channels * (2 * l.kh - 1) * (2 * l.kw - 1));
    s.auto_sum.assign(n, 0);
    s.auto_count.assign(n, 0);
    add_autocorr(value, l, s.auto_sum, s.auto_count);
  }
  if (full_.count(name) && axis == value.rank() - 1 && channels <= kMaxFullChannels) {
    s.cross.assign(static_cast<size_t>(channels * channels), 0);
    s.rows = add_cross(d, outer, channels, s.cross);
  }
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const float* row = d + (o * channels + c) * inner;
      double n = 0, sum = 0, sq = 0;
      for (int64_t i = 0; i < inner; ++i)
        if (std::isfinite(row[i])) n += 1, sum += row[i], sq += static_cast<double>(row[i]) * row[i];
      s.count[c] += n, s.sum[c] += sum, s.sum_sq[c] += sq;
    }
  add(name, s);
}

void ChannelMomentsObserver::add(const std::string& name, const Sums& s) {
  auto [it, fresh] = sums_.try_emplace(name, s);
  if (fresh) return;
  Sums& t = it->second;
  DPL_CHECK(t.count.size() == s.count.size(), "tensor '{}' changed its channel count between samples ({} and {})",
            name, t.count.size(), s.count.size());
  for (size_t c = 0; c < s.count.size(); ++c)
    t.count[c] += s.count[c], t.sum[c] += s.sum[c], t.sum_sq[c] += s.sum_sq[c];
  DPL_CHECK(t.cross.size() == s.cross.size(), "tensor '{}': second moments kept for some samples only", name);
  t.rows += s.rows;
  for (size_t k = 0; k < s.cross.size(); ++k) t.cross[k] += s.cross[k];
  DPL_CHECK(t.auto_sum.size() == s.auto_sum.size(), "tensor '{}': window statistics kept for some samples only", name);
  for (size_t k = 0; k < s.auto_sum.size(); ++k) t.auto_sum[k] += s.auto_sum[k], t.auto_count[k] += s.auto_count[k];
}

void ChannelMomentsObserver::merge(const Observer& other) {
  for (const auto& [name, s] : same_kind<ChannelMomentsObserver>(other, kKind).sums_) add(name, s);
}

std::string ChannelMomentsObserver::serialize() const {
  ByteWriter w(kMomentsTag);
  w.put_entries(sums_, [&](const Sums& s) {
    w.put<uint64_t>(s.count.size());
    w.put_array(s.count);
    w.put_array(s.sum);
    w.put_array(s.sum_sq);
    w.put(s.rows);
    w.put<uint64_t>(s.cross.size());
    w.put_array(s.cross);
    w.put<uint64_t>(s.auto_sum.size());
    w.put_array(s.auto_sum);
    w.put_array(s.auto_count);
  });
  return w.take();
}

void ChannelMomentsObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes, kMomentsTag, kKind);
  r.get_entries([&](const std::string& name) {
    Sums s;
    const auto n = r.get<uint64_t>();
    r.get_array(s.count, n);
    r.get_array(s.sum, n);
    r.get_array(s.sum_sq, n);
    s.rows = r.get<double>();
    r.get_array(s.cross, r.get<uint64_t>());
    const auto na = r.get<uint64_t>();
    r.get_array(s.auto_sum, na);
    r.get_array(s.auto_count, na);
    add(name, s);
  });
}

InputMoments ChannelMomentsObserver::moments() const {
  InputMoments m;
  for (const auto& [name, s] : sums_) {
    ChannelMoments& cm = m[name];
    cm.mean.assign(s.count.size(), 0);
    cm.var.assign(s.count.size(), 0);
    for (size_t c = 0; c < s.count.size(); ++c) {
      if (s.count[c] == 0) continue;
      const double mean = s.sum[c] / s.count[c];
      cm.mean[c] = mean;
      cm.var[c] = std::max(0.0, s.sum_sq[c] / s.count[c] - mean * mean);
    }
    if (!s.auto_sum.empty()) {
      cm.lattice = lattices_.at(name);
      cm.autocorr.resize(s.auto_sum.size());
      for (size_t k = 0; k < s.auto_sum.size(); ++k)
        cm.autocorr[k] = s.auto_count[k] > 0 ? s.auto_sum[k] / s.auto_count[k] : 0;
    }
    if (!s.cross.empty() && s.rows > 0) {
      cm.second.resize(s.cross.size());
      for (size_t k = 0; k < s.cross.size(); ++k) cm.second[k] = s.cross[k] / s.rows;
    }
  }
  return m;
}

}  // namespace dpl
