#include "transform/incremental.h"

#include <spdlog/spdlog.h>

#include "transform/graph_edit.h"
#include "util/progress.h"

namespace dpl::transform {

int run_incremental(OnnxGraph& g, const IncrementalPass& pass, SampleSource& data, const Platform& platform,
                    const ActRanges& act, const WeightRanges& weight, const QdqOptions& qdq,
                    const TransformRunOptions& run) {
  const auto levels = dependency_levels(g, pass.nodes);
  const int n = data.count();
  spdlog::info("{}: {} node(s) in {} pass(es) over {} samples", pass.label, pass.nodes.size(), levels.size(), n);
  Progress bar(pass.label, static_cast<int>(levels.size()) * n);
  QdqOptions quiet = qdq;
  quiet.quiet = true;
  for (size_t l = 0; l < levels.size(); ++l) {
    // The QDQ model of the model as changed so far. Its warnings (skip_layers names that
    // match no node...) are the final QDQ model's too; they are not repeated per pass.
    QdqModel q = build_qdq(g, platform, act, weight, quiet);
    std::vector<std::string> tensors;
    for (int i : levels[l]) tensors.push_back(pass.tensor_of(g.node(i)));
    StatsRunOptions so;
    so.threads = run.threads;
    so.batch = run.batch;
    so.comm = run.comm;
    so.stage = pass.label;
    const int base = static_cast<int>(l) * n;
    so.progress = [&](int done, int) { bar.update(base + done); };
    ChannelStatsObserver obs = channel_stats_of(q.graph, tensors, data, so, pass.momentum);
    for (size_t k = 0; k < levels[l].size(); ++k) pass.apply(levels[l][k], obs.stats(tensors[k]));
  }
  bar.finish();
  return static_cast<int>(levels.size());
}

}  // namespace dpl::transform
