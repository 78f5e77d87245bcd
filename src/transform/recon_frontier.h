// The per-sample values of the tensors that cross a cut of a model's node order, carried
// forward layer by layer (docs/training.md, "Incremental caches"). Layer-wise reconstruction
// needs each layer's input in the model rounded so far and its FP32 target: computed from the
// model inputs, that is a pass over the samples per layer, quadratic in the depth. With a
// frontier, the input of the next layer is one run of the segment between the two cuts, fed
// with the cached values of the previous cut: every layer together costs one pass.
//
// Cached are the tensors that depend on a model input (constants, weight Q/DQ included, are
// recomputed in each segment, so a weight changed after the cut is seen). Each run is one
// sample, so a tensor whose first axis is not the sample axis is cached correctly too.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/sample_source.h"
#include "graph/onnx_graph.h"
#include "transform/incremental.h"
#include "transform/recon_cache.h"

namespace dpl::transform {

class Frontier {
 public:
  // `batch`: the training batch, reserved in memory for each cache that spills (recon_cache.h).
  Frontier(std::string label, SampleSource& data, int64_t batch, CacheBudget& budget, const TransformRunOptions& run);

  // Moves the cut to just before node `pos` of `graph` and caches each of `want` (node
  // outputs before `pos`, or model inputs), as computed by `graph`. `graph` must have the
  // same nodes as at the previous call (only initializer values may differ, and only ones
  // read after the previous cut: note_changed tells); otherwise, or when `pos` lies before
  // the cut, the frontier starts over from the model inputs.
  void advance(const OnnxGraph& graph, int pos, const std::vector<std::string>& want, const std::string& stage);
  // Initializer `name` of the graph will hold another value at the next advance: when a node
  // before the cut depends on it, the cached values are stale and the frontier starts over.
  void note_changed(const OnnxGraph& graph, const std::string& name);

  const SampleCache& cache(const std::string& tensor) const;
  int cut() const { return cut_; }
  // Passes over the samples the frontier has made (segment runs and restarts), for tests.
  int segments_run() const { return segments_; }

 private:
  std::string label_;
  SampleSource& data_;
  int64_t batch_;
  CacheBudget& budget_;
  TransformRunOptions run_;
  int cut_ = 0;
  int segments_ = 0;
  std::string signature_;  // the nodes of the graph at the last advance
  std::map<std::string, std::unique_ptr<SampleCache>> live_;
};

}  // namespace dpl::transform
