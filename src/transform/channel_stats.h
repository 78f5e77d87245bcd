// Per-channel statistics of a few chosen tensors over the calibration samples, gathered by
// calibration's observe_pass (calib/tensor_cali.h: batching, fallback to one sample at a
// time, progress). Channels lie along axis 1 (Conv, Gemm, BatchNormalization tensors
// [N, C, ...]); a tensor is reduced over every other axis. Only the current batch's values
// are ever held, never all activations.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "calib/observer.h"
#include "calib/sample_source.h"
#include "dist/comm.h"
#include "graph/onnx_graph.h"

namespace dpl::transform {

struct ChannelStats {
  std::vector<double> sum;  // per channel, over every value seen
  int64_t count = 0;        // values per channel seen
  std::vector<float> min;   // per channel
  // Per-sample moments folded in sample order into a moving average with momentum m
  // (update_bn): after samples 0..n-1, ema = sum_i m^(n-1-i) x_i, where x_i is sample i's
  // per-channel mean (ema_mean) or population variance (ema_var). Kept in this form so
  // that two observers merge exactly (the other's samples come after this one's).
  std::vector<double> ema_mean, ema_var;
  int64_t samples = 0;
  std::vector<double> mean() const;  // sum / count
};

class ChannelStatsObserver : public Observer {
 public:
  explicit ChannelStatsObserver(std::vector<std::string> tensors, double momentum = 0.9);
  void observe(const std::string& name, const Tensor& value, int samples) override;
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override;

  double momentum() const { return momentum_; }
  // Throws naming the tensor when it was never observed (not computed by the pass).
  const ChannelStats& stats(const std::string& tensor) const;

 private:
  double momentum_;
  std::map<std::string, ChannelStats> stats_;  // one entry per chosen tensor
};

struct StatsRunOptions {
  int threads = 1;
  int batch = 1;
  std::string stage;  // progress label
  // Called after each batch with (samples done, total); when empty, the pass shows its own
  // progress bar labelled `stage`.
  std::function<void(int, int)> progress;
  // A distributed run's ranks: each observes its own samples, the statistics are reduced.
  dist::Comm* comm = &dist::local_comm();
};

// Runs `graph` reduced to what `tensors` need (they become its outputs: only they are held
// to the end of a run) over every sample of `data`.
ChannelStatsObserver channel_stats_of(const OnnxGraph& graph, const std::vector<std::string>& tensors,
                                      SampleSource& data, const StatsRunOptions& opts, double momentum = 0.9);
// Same on the whole, unfused graph with a hook, so that `tensors` are freed as soon as
// nothing reads them: for many tensors at once.
ChannelStatsObserver channel_stats_streamed(const OnnxGraph& graph, const std::vector<std::string>& tensors,
                                            SampleSource& data, const StatsRunOptions& opts);

}  // namespace dpl::transform
