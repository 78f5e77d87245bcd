// The simplifier: the job onnx-simplifier does for the original Dipoorlet. Repeats, until
// nothing changes: shape inference, shape folding (Shape/Size of a tensor whose shape is
// known become constants), constant folding (every node whose inputs are all initializers
// is evaluated with the runtime's kernels and replaced by initializers), removal of
// Identity/Dropout, of Flatten/Reshape around a Softmax over the last axis, and of dead
// nodes and unused initializers. Then the ONNX checker.
//
// Operators the runtime does not implement (yet) are left in place, never folded.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "graph/onnx_graph.h"

namespace dpl {

struct SimplifyOptions {
  // Shapes for graph inputs (replacing the declared ones, typically symbolic dimensions):
  // name -> shape, -1 keeps that dimension as declared. Lets a dynamic model fold at one
  // size (the result then only runs at that size).
  std::map<std::string, Shape> input_shapes;
  // Dimension 0 of every graph input counts as symbolic while folding unless input_shapes
  // gives it, so that the result still runs at any batch size (as the runtime allows) and
  // no batch-1 literal ends up in a Resize size or Reshape target. The declared shapes are
  // kept in the model.
  bool symbolic_batch = true;
  bool fold_constants = true;
  bool fold_shapes = true;
  bool remove_identity = true;  // Identity, and Dropout in inference mode
  bool remove_dead = true;      // dead nodes, unused initializers
  // Initializers also listed as graph inputs (IR < 4 style) stop being inputs.
  bool remove_initializer_inputs = true;
  // Runs onnx::checker::check_model on the result. A model that already failed the check
  // before simplification only gets a warning.
  bool check = true;
  // Folded outputs above this many bytes are not folded (0: no limit).
  int64_t max_folded_bytes = 0;
  // Operators never folded (quantization nodes must stay in a QDQ model).
  std::set<std::string> no_fold_ops = {"QuantizeLinear", "DequantizeLinear"};
  int max_iterations = 20;
};

struct SimplifyStats {
  int nodes_before = 0, nodes_after = 0;
  int initializers_before = 0, initializers_after = 0;
  int folded = 0;               // nodes replaced by their constant outputs
  // Bytes of the constants folding made, over every iteration: their sum is held to the
  // tensor budget (--max_tensor_mb) as each one is (docs/reliability.md, "Limits").
  size_t folded_bytes = 0;
  int shapes_folded = 0;        // Shape/Size nodes replaced by constants
  int identities_removed = 0;   // Identity/Dropout
  int softmax_collapsed = 0;    // Flatten/Reshape pairs around Softmax removed
  int dead_removed = 0;         // nodes nothing used
  int initializers_removed = 0; // unused initializers
  int iterations = 0;
  // Operator types that could have been folded but the runtime does not implement, or
  // whose kernel refused the node (type -> count, last message).
  std::map<std::string, int> not_folded;
  std::string summary() const;
};

SimplifyStats simplify(OnnxGraph& graph, const SimplifyOptions& opts = {});

}  // namespace dpl
