// Runs an unfused session's graph in consecutive node ranges [pos, end), carrying only the
// tensors still needed after each cut. Two models can so advance side by side (the FP32
// and the QDQ model during profiling) without either holding all its activations.
#pragma once
#include <climits>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/onnx_graph.h"
#include "runtime/session.h"

namespace dpl {

class SegmentRunner {
 public:
  // `session` must run `graph` unfused (session node i = graph node i).
  SegmentRunner(Session& session, const OnnxGraph& graph);
  // New batch: the graph inputs (kept to the end: the runtime reads the batch size from them).
  void start(const TensorMap& feeds);
  // Runs nodes [position(), end).
  void run_to(int end);
  int position() const { return pos_; }
  int node_count() const { return static_cast<int>(produced_.size()); }
  // Tensors alive now: graph inputs, graph outputs computed so far, and those a later node reads.
  const TensorMap& live() const { return live_; }

 private:
  Session& s_;
  std::vector<std::vector<std::string>> produced_;  // per node: its outputs
  std::unordered_map<std::string, int> last_use_;   // tensor -> last reading node (INT_MAX: keep)
  TensorMap live_;
  int pos_ = 0;
};

}  // namespace dpl
