// The incremental scheme shared by bias correction and BN update (docs/spec.md 8): nodes are
// processed in graph order, each measured in the QDQ model built from the model with the
// nodes before it already changed. Nodes whose measurements do not depend on each other's
// changes share one pass over the data (graph_edit.h dependency_levels); each pass runs
// only the part of the QDQ model that its nodes' tensors need and holds only those tensors.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "dist/comm.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "transform/channel_stats.h"

namespace dpl::transform {

struct TransformRunOptions {
  int threads = 1;
  int batch = 1;
  // The ranks of a distributed run; each passes its own share of the samples as `data`, and
  // statistics and gradients are reduced over the ranks (docs/distributed.md).
  dist::Comm* comm = &dist::local_comm();
};

struct IncrementalPass {
  std::vector<int> nodes;  // node indices of `g` in graph order (not changed by `apply`)
  // The tensor measured for a node (e.g. its output, or its input).
  std::function<std::string(const onnx::NodeProto&)> tensor_of;
  // Changes the model for one node from its tensor's statistics in the QDQ model.
  std::function<void(int node, const ChannelStats&)> apply;
  std::string label;  // progress and log label
  double momentum = 0.9;
};

// Returns the number of passes over the data.
int run_incremental(OnnxGraph& g, const IncrementalPass& pass, SampleSource& data, const Platform& platform,
                    const ActRanges& act, const WeightRanges& weight, const QdqOptions& qdq,
                    const TransformRunOptions& run);

}  // namespace dpl::transform
