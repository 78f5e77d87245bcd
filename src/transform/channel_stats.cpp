// Gathering, merging and (de)serialising per-channel statistics (see channel_stats.h).
#include "transform/channel_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "calib/observer_state.h"
#include "calib/tensor_cali.h"
#include "dist/reduce.h"
#include "runtime/session.h"
#include "transform/graph_edit.h"
#include "util/error.h"
#include "util/progress.h"

namespace dpl::transform {

namespace {

constexpr uint32_t kTag = 0x43485331;  // "CHS1"
constexpr const char* kKind = "a channel-statistics observer";

void resize_for(ChannelStats& s, size_t channels, const std::string& name) {
  if (s.sum.empty()) {
    s.sum.assign(channels, 0.0);
    s.min.assign(channels, std::numeric_limits<float>::infinity());
    s.ema_mean.assign(channels, 0.0);
    s.ema_var.assign(channels, 0.0);
    return;
  }
  DPL_CHECK(s.sum.size() == channels, "'{}' had {} channels, now {}", name, s.sum.size(), channels);
}

// this <- this then other (other's samples after this one's).
void append(ChannelStats& a, const ChannelStats& b, double momentum, const std::string& name) {
  if (b.sum.empty()) return;
  resize_for(a, b.sum.size(), name);
  const double decay = std::pow(momentum, static_cast<double>(b.samples));
  for (size_t c = 0; c < b.sum.size(); ++c) {
    a.sum[c] += b.sum[c];
    a.min[c] = std::min(a.min[c], b.min[c]);
    a.ema_mean[c] = a.ema_mean[c] * decay + b.ema_mean[c];
    a.ema_var[c] = a.ema_var[c] * decay + b.ema_var[c];
  }
  a.count += b.count;
  a.samples += b.samples;
}

}  // namespace

std::vector<double> ChannelStats::mean() const {
  std::vector<double> m(sum.size(), 0.0);
  if (count > 0)
    for (size_t c = 0; c < sum.size(); ++c) m[c] = sum[c] / static_cast<double>(count);
  return m;
}

ChannelStatsObserver::ChannelStatsObserver(std::vector<std::string> tensors, double momentum) : momentum_(momentum) {
  for (auto& t : tensors) stats_[t];
}

void ChannelStatsObserver::observe(const std::string& name, const Tensor& value, int samples) {
  auto it = stats_.find(name);
  if (it == stats_.end() || value.dtype() != DType::F32 || value.numel() == 0) return;
  ChannelStats& s = it->second;
  const int64_t channels = value.rank() >= 2 ? value.dim(1) : value.dim(0);
  int64_t inner = 1;  // values per channel per row of axis 0
  for (int d = 2; d < value.rank(); ++d) inner *= value.dim(d);
  resize_for(s, static_cast<size_t>(channels), name);
  const SampleSplit split = split_samples(value, samples);
  const int64_t rows_per_part = split.part_size / (channels * inner);
  const float* x = value.data<float>();
  std::vector<double> psum(channels), psq(channels);
  for (int64_t p = 0; p < split.parts; ++p) {
    std::fill(psum.begin(), psum.end(), 0.0);
    std::fill(psq.begin(), psq.end(), 0.0);
    for (int64_t r = 0; r < rows_per_part; ++r) {
      const float* row = x + p * split.part_size + r * channels * inner;
      for (int64_t c = 0; c < channels; ++c) {
        const float* v = row + c * inner;
        double a = 0, q = 0;
        float lo = s.min[c];
        for (int64_t k = 0; k < inner; ++k) {
          a += v[k];
          q += static_cast<double>(v[k]) * v[k];
          lo = std::min(lo, v[k]);
        }
        psum[c] += a;
        psq[c] += q;
        s.min[c] = lo;
      }
    }
    // One part stands for `split.weight` samples with these statistics.
    const double n = static_cast<double>(rows_per_part * inner);
    for (int w = 0; w < split.weight; ++w) {
      for (int64_t c = 0; c < channels; ++c) {
        const double m = psum[c] / n;
        const double var = std::max(0.0, psq[c] / n - m * m);
        s.ema_mean[c] = s.ema_mean[c] * momentum_ + m;
        s.ema_var[c] = s.ema_var[c] * momentum_ + var;
        s.sum[c] += psum[c];
      }
      s.count += rows_per_part * inner;
      ++s.samples;
    }
  }
}

void ChannelStatsObserver::merge(const Observer& other) {
  const auto& o = same_kind<ChannelStatsObserver>(other, kKind);
  DPL_CHECK(o.momentum_ == momentum_, "channel statistics with momentum {} and {} cannot be merged", momentum_,
            o.momentum_);
  for (const auto& [name, s] : o.stats_) append(stats_[name], s, momentum_, name);
}

std::string ChannelStatsObserver::serialize() const {
  ByteWriter w(kTag);
  w.put(momentum_);
  w.put_entries(stats_, [&](const ChannelStats& s) {
    w.put<uint64_t>(s.sum.size());
    w.put(s.count);
    w.put(s.samples);
    w.put_array(s.sum);
    w.put_array(s.min);
    w.put_array(s.ema_mean);
    w.put_array(s.ema_var);
  });
  return w.take();
}

void ChannelStatsObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes, kTag, kKind);
  const double m = r.get<double>();
  DPL_CHECK(m == momentum_, "channel statistics with momentum {} and {} cannot be merged", momentum_, m);
  r.get_entries([&](const std::string& name) {
    const auto channels = r.get<uint64_t>();
    ChannelStats s;
    s.count = r.get<int64_t>();
    s.samples = r.get<int64_t>();
    r.get_array(s.sum, channels);
    r.get_array(s.min, channels);
    r.get_array(s.ema_mean, channels);
    r.get_array(s.ema_var, channels);
    append(stats_[name], s, momentum_, name);
  });
}

void ChannelStatsObserver::clear() {
  for (auto& [name, s] : stats_) s = ChannelStats{};
}

const ChannelStats& ChannelStatsObserver::stats(const std::string& tensor) const {
  auto it = stats_.find(tensor);
  DPL_CHECK(it != stats_.end() && !it->second.sum.empty(), "no statistics were gathered for '{}'", tensor);
  return it->second;
}

namespace {

ChannelStatsObserver run_pass(const OnnxGraph& graph, bool fuse, const std::vector<std::string>& tensors,
                              SampleSource& data, const StatsRunOptions& opts, double momentum) {
  SessionOptions so;
  so.threads = std::max(1, opts.threads);
  so.fuse = fuse;
  Session session(graph, so);
  ChannelStatsObserver obs(tensors, momentum);
  CaliOptions co;
  co.batch = opts.batch;
  co.threads = opts.threads;
  std::optional<Progress> bar;  // a bar of its own unless the caller shows progress
  if (opts.progress)
    co.progress = [&](int done, int total, const std::string&) { opts.progress(done, total); };
  else
    co.progress = [&](int done, int total, const std::string&) {
      if (!bar) bar.emplace(opts.stage, total);
      bar->update(done);
    };
  co.reduce = [&](Observer& o, const std::string&) { dist::reduce_in_rank_order(*opts.comm, o); };
  observe_pass(session, data, obs, co, opts.stage);
  if (bar) bar->finish();
  for (const auto& t : tensors) obs.stats(t);  // every tensor was seen
  return obs;
}

}  // namespace

ChannelStatsObserver channel_stats_of(const OnnxGraph& graph, const std::vector<std::string>& tensors,
                                      SampleSource& data, const StatsRunOptions& opts, double momentum) {
  // Unfused: kernel fusion saves little on QDQ models (the Q/DQ nodes sit between the
  // nodes it would merge) and made a real model (road segmentation) 10x slower.
  return run_pass(graph_up_to(graph, tensors), false, tensors, data, opts, momentum);
}

ChannelStatsObserver channel_stats_streamed(const OnnxGraph& graph, const std::vector<std::string>& tensors,
                                            SampleSource& data, const StatsRunOptions& opts) {
  return run_pass(graph, false, tensors, data, opts, 0.9);
}

}  // namespace dpl::transform
