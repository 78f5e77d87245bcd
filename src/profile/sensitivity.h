// Single-layer sensitivity (docs/spec.md 9, beyond): for every quantized node, the network-output
// cosine when only that node is quantized (its input Q/DQ pairs, as in the QDQ model, and
// nothing else), and a --skip_layers list that brings the whole QDQ model to a target
// output cosine.
//
// Cost: one FP32 run per sample caches every activation; then for each node k with pairs,
// only node k runs on fake-quantized inputs and the FP32 model runs the nodes after k on the
// cached values (Session::run_range): about (quantized nodes / 2) FP32 passes per sample.
// So sensitivity uses few samples (the first `samples` of the calibration set, 8 by default).
// The skip list is found by bisection over the nodes sorted by sensitivity, each candidate
// measured by building and running the QDQ model with those nodes skipped (about
// log2(nodes) + 2 QDQ passes over the same samples).
//
// "Network-output cosine": the lowest over the graph outputs of the per-output figure of
// profiling (mean cosine over samples; one stacked cosine for outputs of at most 10 values).
#pragma once
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "calib/sample_source.h"
#include "graph/onnx_graph.h"
#include "profile/profiler.h"
#include "quant/qdq_builder.h"

namespace dpl {

struct SensitivityOptions {
  int samples = 8;
  int batch = 1;
  int threads = 1;
  double target_cos = 0.99;
  // (stage, done, total): "single layers" over samples, then "skip list" over evaluations.
  std::function<void(const std::string&, int, int)> progress;
  // A distributed run's ranks: each measures its share of the nodes (on the same samples),
  // the figures are gathered; the skip-list search runs on every rank alike.
  dist::Comm* comm = &dist::local_comm();
};

struct NodeSensitivity {
  std::string node, op_type;
  bool quantizes_inputs = false;  // false: no input of this node gets a pair (no error alone)
  double cos = 1.0;               // network-output cosine with only this node quantized
  double sqnr_db = 0;             // SQNR of that output (+inf when exact)
};

struct SkipSuggestion {
  double target = 0;
  double full_cos = 0;             // the QDQ model as built, on the sensitivity samples
  std::vector<std::string> skip;   // nodes to add to --skip_layers, most sensitive first
  double cos = 0;                  // measured with them skipped
  bool reached = false;
  int evaluations = 0;             // QDQ models built and run
};

struct SensitivityResult {
  std::vector<NodeSensitivity> nodes;  // quantized nodes in graph order
  SkipSuggestion suggestion;
  int samples = 0;
  double seconds_single = 0, seconds_suggest = 0;
};

// Builds the QDQ model with the given nodes skipped on top of the run's own options.
using QdqBuildFn = std::function<QdqModel(const std::set<std::string>& extra_skip)>;

// `q_graph` is profiling_graph(qdq) (profile/subgraph.h). Node and tensor names of `fp` and
// `qdq` must match (qdq built from fp).
SensitivityResult run_sensitivity(const OnnxGraph& fp, const QdqModel& qdq, const OnnxGraph& q_graph,
                                  const QdqBuildFn& build, SampleSource& data, const SensitivityOptions& opts);

// The lowest output cosine and that output's SQNR.
std::pair<double, double> worst_output(const std::vector<OutputProfile>& outs);

}  // namespace dpl
