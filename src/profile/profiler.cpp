#include "profile/profiler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "runtime/segment_runner.h"
#include "profile/subgraph.h"
#include "runtime/session.h"
#include "util/error.h"

namespace dpl {

bool is_tolcos_output(const OnnxGraph& g, const std::string& name) {
  // The original: np.prod(shape[1:]) <= 10 on the declared shape. Unknown dimensions (-1)
  // count as large.
  auto shape = g.tensor_shape(name);
  if (!shape || shape->empty()) return false;
  int64_t n = 1;
  for (size_t d = 1; d < shape->size(); ++d) {
    if ((*shape)[d] < 0) return false;
    n *= (*shape)[d];
  }
  return n <= 10;
}

std::vector<OutputProfile> output_profiles(const OnnxGraph& fp, const std::map<std::string, std::string>& q_names) {
  std::vector<OutputProfile> outs;
  for (const auto& name : fp.network_outputs()) {
    OutputProfile o;
    o.name = name;
    auto it = q_names.find(name);
    o.q_name = it == q_names.end() ? name : it->second;
    o.tolcos = is_tolcos_output(fp, name);
    outs.push_back(std::move(o));
  }
  return outs;
}

void add_output_batch(std::vector<OutputProfile>& outs, const TensorMap& fp, const TensorMap& q, int batch) {
  for (auto& o : outs) {
    const Tensor& a = fp.at(o.name);
    const Tensor& b = q.at(o.q_name);
    if (a.dtype() != DType::F32 || b.dtype() != DType::F32) continue;  // not a float output: not compared
    o.stats.add_batch(a, b, batch);
  }
}

namespace {

// Outputs of the quantized nodes (QDQ model) that the FP32 model computes too, by tensor
// name, in graph order. Matching by tensor rather than node lets the reference be another
// version of the model (before weight transforms, say) whose nodes differ.
std::vector<LayerProfile> layer_list(const OnnxGraph& fp, const QdqModel& qdq) {
  std::vector<LayerProfile> layers;
  for (const auto& name : qdq.quant_nodes) {
    if (!qdq.graph.has_node(name)) continue;
    const onnx::NodeProto& n = qdq.graph.node(qdq.graph.node_index(name));
    for (const auto& t : n.output()) {
      if (t.empty() || fp.producer(t) < 0 || fp.value_type(t) != DType::F32) continue;
      LayerProfile l;
      l.node = name;
      l.op_type = n.op_type();
      l.tensor = t;
      layers.push_back(std::move(l));
    }
  }
  return layers;
}

}  // namespace

namespace {

// Lockstep segments end once the FP32 values they hold reach this size: small enough to
// stay in cache until compared, large enough that the per-segment overhead is negligible.
constexpr int64_t kSegmentBytes = 4 << 20;

int64_t tensor_bytes(const OnnxGraph& g, const std::string& t) {
  auto shape = g.tensor_shape(t);
  if (!shape) return 0;
  int64_t n = 4;
  for (auto d : *shape) n *= std::max<int64_t>(d, 1);
  return n;
}

}  // namespace

Profiler::Profiler(const OnnxGraph& fp, const QdqModel& qdq, ProfileOptions opts)
    : fp_(fp),
      qdq_(qdq),
      opts_(std::move(opts)),
      stream_weights_(fp.mapped_bytes() >= std::max<size_t>(opts_.stream_weights_above, 1)),
      q_graph_(profiling_graph(qdq, !stream_weights_)) {
  DPL_CHECK(opts_.batch >= 1, "profiling batch must be positive, got {}", opts_.batch);
  // Hooks must see every node output, so per-layer sessions run unfused; so do streamed
  // ones, since fusion folds the weights' quantization into new constants.
  SessionOptions so;
  so.threads = opts_.threads;
  so.fuse = !opts_.per_layer && !stream_weights_;
  so.pack_weights = !stream_weights_;
  if (stream_weights_)
    spdlog::info("profiling with streamed weights: {:.0f} MB of weights are mapped from their file", fp.mapped_bytes() / 1e6);
  fp_s_ = std::make_unique<Session>(fp_, so);
  q_s_ = std::make_unique<Session>(q_graph_, so);
  if (!opts_.per_layer) return;
  layers_ = layer_list(fp_, qdq_);
  fp_run_ = std::make_unique<SegmentRunner>(*fp_s_, fp_);
  q_run_ = std::make_unique<SegmentRunner>(*q_s_, q_graph_);
  int64_t bytes = 0;
  int last_fp = 0, last_q = 0;
  for (size_t k = 0; k < layers_.size(); ++k) {
    bytes += tensor_bytes(fp_, layers_[k].tensor);
    const bool node_end = k + 1 == layers_.size() || layers_[k + 1].node != layers_[k].node;
    if (!node_end || bytes < kSegmentBytes) continue;
    const int i = fp_.producer(layers_[k].tensor) + 1, j = q_graph_.producer(layers_[k].tensor) + 1;
    if (i <= last_fp || j <= last_q) continue;  // never out of order (a QDQ model keeps the FP32 order)
    cuts_.emplace_back(i, j);
    last_fp = i;
    last_q = j;
    bytes = 0;
  }
  cuts_.emplace_back(fp_.node_count(), q_graph_.node_count());
  // Every FP32 value must exist by the time its QDQ counterpart is produced: its FP32 segment
  // may not come after its QDQ segment. (Always true when the QDQ model was built from `fp`;
  // a reference with another node order falls back to one segment: correct, more memory.)
  auto segment = [&](int node, bool q) {
    for (size_t c = 0; c < cuts_.size(); ++c)
      if (node < (q ? cuts_[c].second : cuts_[c].first)) return c;
    return cuts_.size();
  };
  for (const auto& l : layers_) {
    if (segment(fp_.producer(l.tensor), false) > segment(q_graph_.producer(l.tensor), true)) {
      cuts_.assign(1, {fp_.node_count(), q_graph_.node_count()});
      break;
    }
  }
}

Profiler::~Profiler() = default;

std::pair<TensorMap, TensorMap> Profiler::run_batch(
    const TensorMap& feeds, const std::unordered_map<std::string, int>& tensors,
    const std::function<void(int, const Tensor&, const Tensor&)>& on_pair) {
  std::vector<std::string> q_fetch;
  for (const auto& name : fp_.network_outputs()) {
    auto it = qdq_.outputs.find(name);
    q_fetch.push_back(it == qdq_.outputs.end() ? name : it->second);
  }
  TensorMap fp_out, q_out;
  if (!opts_.per_layer || tensors.empty()) {
    fp_out = fp_s_->run(feeds);
    q_out = q_s_->run(feeds, q_fetch);
    return {std::move(fp_out), std::move(q_out)};
  }
  // FP32 values waiting for their QDQ counterpart (shared buffers, no copies).
  std::unordered_map<std::string, Tensor> held;
  fp_s_->set_hook([&](const std::string& name, const Tensor& t) {
    if (tensors.count(name)) held[name] = t;
  });
  q_s_->set_hook([&](const std::string& name, const Tensor& t) {
    auto it = held.find(name);
    if (it == held.end()) return;
    on_pair(tensors.at(name), it->second, t);
    held.erase(it);
  });
  fp_run_->start(feeds);
  q_run_->start(feeds);
  for (const auto& [i, j] : cuts_) {
    fp_run_->run_to(i);
    q_run_->run_to(j);
  }
  fp_s_->set_hook(nullptr);
  q_s_->set_hook(nullptr);
  for (const auto& name : fp_.network_outputs()) fp_out[name] = fp_run_->live().at(name);
  for (const auto& name : q_fetch) q_out[name] = q_run_->live().at(name);
  return {std::move(fp_out), std::move(q_out)};
}

ProfileResult Profiler::run(SampleSource& data) {
  const auto t0 = std::chrono::steady_clock::now();
  ProfileResult res;
  res.layers = layers_;
  res.outputs = output_profiles(fp_, qdq_.outputs);
  std::unordered_map<std::string, int> index;
  for (size_t i = 0; i < res.layers.size(); ++i) index[res.layers[i].tensor] = static_cast<int>(i);
  const int total = data.count();
  for (int first = 0; first < total; first += opts_.batch) {
    const int n = std::min(opts_.batch, total - first);
    auto [fp_out, q_out] = run_batch(data.batch(first, n), index, [&](int k, const Tensor& a, const Tensor& b) {
      res.layers[k].stats.add_batch(a, b, n);
    });
    add_output_batch(res.outputs, fp_out, q_out, n);
    res.samples += n;
    if (opts_.progress) opts_.progress(res.samples, total);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

std::vector<LayerHistogram> Profiler::histograms(SampleSource& data, const std::vector<LayerHistogram>& wanted,
                                                 int samples, int bins) {
  const int fine = 4 * bins;
  std::vector<LayerHistogram> res = wanted;
  std::unordered_map<std::string, int> index;
  for (size_t i = 0; i < res.size(); ++i) {
    index[res[i].tensor] = static_cast<int>(i);
    res[i].fp.assign(fine, 0);
    res[i].q.assign(fine, 0);
    res[i].samples = 0;
  }
  auto add = [fine](std::vector<uint64_t>& h, const Tensor& t, float lo, float hi) {
    const float* d = t.data<float>();
    const float scale = hi > lo ? static_cast<float>(fine) / (hi - lo) : 0.f;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float b = (d[i] - lo) * scale;
      const int k = b > 0 ? static_cast<int>(std::min(b, static_cast<float>(fine - 1))) : 0;  // NaN -> 0
      ++h[k];
    }
  };
  const int total = std::min(samples, data.count());
  for (int first = 0; first < total; first += opts_.batch) {
    const int n = std::min(opts_.batch, total - first);
    run_batch(data.batch(first, n), index, [&](int k, const Tensor& a, const Tensor& b) {
      add(res[k].fp, a, res[k].lo, res[k].hi);
      add(res[k].q, b, res[k].lo, res[k].hi);
    });
    for (auto& h : res) h.samples += n;
  }
  // Keep the bins from the first to the last one used, merged by groups of `merge`.
  for (auto& h : res) {
    int first = 0, last = fine - 1;
    while (first < last && h.fp[first] == 0 && h.q[first] == 0) ++first;
    while (last > first && h.fp[last] == 0 && h.q[last] == 0) --last;
    const int merge = (last - first + bins) / bins;
    const int out = (last - first + merge) / merge;
    std::vector<uint64_t> fp(out, 0), q(out, 0);
    for (int k = first; k <= last; ++k) {
      fp[(k - first) / merge] += h.fp[k];
      q[(k - first) / merge] += h.q[k];
    }
    const float width = (h.hi - h.lo) / static_cast<float>(fine);
    const float lo = h.lo + width * static_cast<float>(first);
    h.hi = lo + width * static_cast<float>(out * merge);
    h.lo = lo;
    h.fp = std::move(fp);
    h.q = std::move(q);
  }
  return res;
}

ProfileResult profile_qdq(const OnnxGraph& fp, const QdqModel& qdq, SampleSource& data, const ProfileOptions& opts) {
  return Profiler(fp, qdq, opts).run(data);
}

}  // namespace dpl
