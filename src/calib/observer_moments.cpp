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

ChannelMomentsObserver::ChannelMomentsObserver(std::map<std::string, int> axes, std::set<std::string> full)
    : axes_(std::move(axes)), full_(std::move(full)) {}

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
    if (!s.cross.empty() && s.rows > 0) {
      cm.second.resize(s.cross.size());
      for (size_t k = 0; k < s.cross.size(); ++k) cm.second[k] = s.cross[k] / s.rows;
    }
  }
  return m;
}

}  // namespace dpl
