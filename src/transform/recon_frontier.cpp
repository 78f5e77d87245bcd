#include "transform/recon_frontier.h"

#include <algorithm>
#include <set>
#include <unordered_set>

#include "calib/tensor_cali.h"
#include "graph/region.h"
#include "runtime/session.h"
#include "util/error.h"

namespace dpl::transform {

namespace {

// Everything a node reads: its inputs and the outer tensors its subgraphs use.
std::vector<std::string> reads(const onnx::NodeProto& n) {
  std::unordered_set<std::string> sub;
  collect_subgraph_reads(n, sub);
  std::vector<std::string> r(n.input().begin(), n.input().end());
  r.insert(r.end(), sub.begin(), sub.end());
  return r;
}

// The tensors that depend on a model input (the others are constants, recomputed at will).
std::unordered_set<std::string> dynamic_tensors(const OnnxGraph& g) {
  const auto in = g.network_inputs();
  std::unordered_set<std::string> dyn(in.begin(), in.end());
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    const auto r = reads(n);
    if (std::any_of(r.begin(), r.end(), [&](const std::string& t) { return dyn.count(t) != 0; }))
      for (const auto& o : n.output())
        if (!o.empty()) dyn.insert(o);
  }
  return dyn;
}

std::string signature(const OnnxGraph& g) {
  std::string s;
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    s += n.op_type() + ':' + n.name() + '(';
    for (const auto& t : n.input()) s += t + ',';
    s += ")->";
    for (const auto& t : n.output()) s += t + ',';
    s += ';';
  }
  return s;
}

// Feeds a segment: the model inputs it reads from the samples, the tensors of the previous
// cut from their caches.
class SegmentSource : public SampleSource {
 public:
  SegmentSource(SampleSource& data, std::vector<std::string> from_data,
                std::vector<std::pair<std::string, const SampleCache*>> from_cache)
      : data_(data), from_data_(std::move(from_data)), from_cache_(std::move(from_cache)) {}
  int count() const override { return data_.count(); }
  std::string describe(int i) const override { return data_.describe(i); }
  TensorMap batch(int first, int n) override {
    TensorMap m;
    if (!from_data_.empty()) {
      TensorMap all = data_.batch(first, n);
      for (const auto& name : from_data_) {
        auto it = all.find(name);
        DPL_CHECK(it != all.end(), "the samples have no value for model input '{}'", name);
        m.emplace(name, std::move(it->second));
      }
    }
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = first + i;
    for (const auto& [name, cache] : from_cache_) m.emplace(name, cache->gather(idx));
    return m;
  }

 private:
  SampleSource& data_;
  std::vector<std::string> from_data_;
  std::vector<std::pair<std::string, const SampleCache*>> from_cache_;
};

}  // namespace

Frontier::Frontier(std::string label, SampleSource& data, int64_t batch, CacheBudget& budget,
                   const TransformRunOptions& run)
    : label_(std::move(label)), data_(data), batch_(batch), budget_(budget), run_(run) {}

const SampleCache& Frontier::cache(const std::string& tensor) const {
  auto it = live_.find(tensor);
  DPL_CHECK(it != live_.end(), "internal: {}: '{}' is not cached at the cut before node {}", label_, tensor, cut_);
  return *it->second;
}

void Frontier::note_changed(const OnnxGraph& graph, const std::string& name) {
  if (cut_ == 0) return;
  const auto dyn = dynamic_tensors(graph);
  std::unordered_set<std::string> derived = {name};  // the initializer and constants made from it
  for (int i = 0; i < std::min(cut_, graph.node_count()); ++i) {
    const auto& n = graph.node(i);
    const auto r = reads(n);
    if (std::none_of(r.begin(), r.end(), [&](const std::string& t) { return derived.count(t) != 0; })) continue;
    if (std::any_of(r.begin(), r.end(), [&](const std::string& t) { return dyn.count(t) != 0; })) {
      signature_.clear();  // a cached value used the old one: start over at the next advance
      return;
    }
    for (const auto& o : n.output()) derived.insert(o);
  }
}

void Frontier::advance(const OnnxGraph& graph, int pos, const std::vector<std::string>& want,
                       const std::string& stage) {
  DPL_CHECK(pos >= 0 && pos <= graph.node_count(), "internal: {}: cut {} outside the graph's {} nodes", label_, pos,
            graph.node_count());
  const std::string sig = signature(graph);
  if (sig != signature_ || pos < cut_) {
    live_.clear();
    cut_ = 0;
    signature_ = sig;
  }
  const auto dyn = dynamic_tensors(graph);
  const auto inputs = graph.network_inputs();
  const std::set<std::string> model_inputs(inputs.begin(), inputs.end());

  // What the new cut holds: every value made before `pos` that a node from `pos` on reads,
  // and the wanted tensors.
  std::set<std::string> keep;
  for (int j = pos; j < graph.node_count(); ++j)
    for (const auto& t : reads(graph.node(j))) {
      const int p = graph.producer(t);
      if (p >= 0 && p < pos && dyn.count(t)) keep.insert(t);
    }
  std::vector<std::string> from_samples;  // wanted model inputs: copied from the samples
  for (const auto& t : want) {
    if (model_inputs.count(t)) {
      from_samples.push_back(t);
      continue;
    }
    const int p = graph.producer(t);
    DPL_CHECK(p >= 0 && p < pos, "internal: {}: '{}' is not made before node {}", label_, t, pos);
    DPL_CHECK(dyn.count(t), "internal: {}: '{}' does not depend on the samples", label_, t);
    keep.insert(t);
  }
  // A kept value made before the old cut that the old cut does not hold (a wanted tensor no
  // later node reads): only a pass from the model inputs has it.
  for (const auto& t : keep)
    if (graph.producer(t) < cut_ && !live_.count(t)) {
      live_.clear();
      cut_ = 0;
      break;
    }

  // The segment: the nodes from the old cut that the new values need, plus whatever
  // constants they read; values of the old cut and model inputs are its inputs.
  std::vector<std::string> outputs;
  for (const auto& t : keep)
    if (graph.producer(t) >= cut_) outputs.push_back(t);
  std::unordered_set<std::string> needed(outputs.begin(), outputs.end());
  std::vector<int> nodes;
  std::vector<std::string> from_data;
  std::vector<std::pair<std::string, const SampleCache*>> from_cache;
  std::unordered_set<std::string> fed;
  for (int j = pos - 1; j >= 0 && !needed.empty(); --j) {
    const auto& n = graph.node(j);
    if (std::none_of(n.output().begin(), n.output().end(), [&](const std::string& o) { return needed.count(o); }))
      continue;
    nodes.push_back(j);
    for (const auto& o : n.output()) needed.erase(o);
    for (const auto& t : reads(n)) {
      if (t.empty() || graph.is_initializer(t) || fed.count(t)) continue;
      if (model_inputs.count(t)) {
        fed.insert(t);
        from_data.push_back(t);
      } else if (dyn.count(t) && graph.producer(t) < cut_) {
        fed.insert(t);
        from_cache.emplace_back(t, &cache(t));
      } else {
        needed.insert(t);
      }
    }
  }
  DPL_CHECK(needed.empty(), "internal: {}: no node before {} makes '{}'", label_, pos, *needed.begin());

  std::map<std::string, std::unique_ptr<SampleCache>> next;
  const int64_t n = data_.count();
  if (!outputs.empty()) {
    const Region region(graph, nodes, outputs);
    SessionOptions so;
    so.threads = std::max(1, run_.threads);
    Session session(region.extract(), so);
    SegmentSource source(data_, from_data, from_cache);
    const std::set<std::string> wanted(want.begin(), want.end());
    CacheFiller filler(outputs, [&](const std::string& t, const Shape& row, DType dtype) -> SampleCache& {
      // Only what training reads is read a batch at a time (float values); the rest, of any
      // type (a Shape's output too), one row per run.
      const bool trained_on = wanted.count(t) != 0;
      DPL_CHECK(!trained_on || dtype == DType::F32, "{}: '{}' is {}, not float", label_, t, dtype_name(dtype));
      auto c = std::make_unique<SampleCache>(label_ + " '" + t + "'", n, row, trained_on ? batch_ : 1, budget_,
                                             dtype);
      return *next.emplace(t, std::move(c)).first->second;
    });
    CaliOptions co;
    co.batch = 1;  // one sample per run: any layout of the first axis is cached right
    co.threads = run_.threads;
    observe_pass(session, source, filler, co, stage);
    ++segments_;
    for (const auto& t : outputs)
      DPL_CHECK(next.count(t), "{}: the pass produced no value for '{}'", label_, t);
  }
  for (const auto& t : from_samples) {
    if (next.count(t)) continue;
    for (int64_t i = 0; i < n; ++i) {
      const Tensor v = data_.batch(static_cast<int>(i), 1).at(t);
      DPL_CHECK(v.dtype() == DType::F32, "{}: model input '{}' is {}, not float", label_, t, dtype_name(v.dtype()));
      if (!next.count(t))
        next.emplace(t, std::make_unique<SampleCache>(label_ + " '" + t + "'", n, v.shape(), batch_, budget_));
      next.at(t)->put(i, v.raw());
    }
  }
  for (const auto& t : keep)
    if (!next.count(t)) next.emplace(t, std::move(live_.at(t)));
  live_ = std::move(next);  // the old cut's other values are freed, their budget returned
  cut_ = pos;
}

}  // namespace dpl::transform
