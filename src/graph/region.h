// A region of a model: a set of its nodes with the tensors at its boundary. It is the unit
// that is cut out and run on its own (profiling's single-node models, the prefix of a model
// that a weight transform needs) and, for reconstruction, trained and written back
// (docs/architecture.md). One home for "which tensors go in, which come out, which
// initializers go along", so every cut agrees on it.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <unordered_set>
#include <vector>

#include "graph/onnx_graph.h"

namespace dpl {

// Names the nodes of a node's subgraph attributes (If/Loop/Scan bodies) read, recursively,
// added to `names`. Outer tensors a subgraph uses are not node inputs, so whatever cuts or
// prunes a graph must count them too.
void collect_subgraph_reads(const onnx::NodeProto& node, std::unordered_set<std::string>& names);

class Region {
 public:
  // The nodes `nodes` of g (indices, any order; kept in graph order). Its outputs are every
  // tensor its nodes produce that a node outside reads or that is a graph output. The
  // region refers to g, which must outlive it and stay unchanged while it is used.
  Region(const OnnxGraph& g, std::vector<int> nodes);
  // The same nodes with exactly `outputs` as outputs (each produced by a node of the region).
  Region(const OnnxGraph& g, std::vector<int> nodes, std::vector<std::string> outputs);
  // Every node `targets` depend on (through node inputs and subgraph reads), with `targets`
  // as its outputs. A target is a node output or a graph input.
  static Region up_to(const OnnxGraph& g, const std::vector<std::string>& targets);

  // Node indices in g, in graph order.
  const std::vector<int>& nodes() const { return nodes_; }
  bool contains(int node) const { return node >= 0 && node < static_cast<int>(in_.size()) && in_[node]; }
  // Tensors the nodes read that no node of the region produces and that are not
  // initializers, in the order first read (a target of up_to that is a graph input too).
  const std::vector<std::string>& inputs() const { return inputs_; }
  // Initializers of g the nodes read, in the order first read.
  const std::vector<std::string>& initializers() const { return initializers_; }
  const std::vector<std::string>& outputs() const { return outputs_; }

  struct ExtractOptions {
    // false: the graph inputs are inputs() with their element type only, so a batch of any
    // shape (cached intermediates) can be fed. true: the graph inputs are g's own, all of
    // them, in g's order, with their declared shapes, and outputs are declared as in g, for
    // a region run on the model's samples (batch-dependent kernels then see the declared
    // batch as in the full model).
    bool model_inputs = false;
  };
  // A standalone model: the region's nodes in graph order, the initializers they read,
  // inputs as chosen in `opts`, outputs(). Same IR version, opsets and folder as g.
  OnnxGraph extract(const ExtractOptions& opts) const;
  OnnxGraph extract() const { return extract(ExtractOptions{}); }

  // Splices `rewritten` (e.g. a trained copy of extract()) into g, the graph this region was
  // made from, in place of the region's nodes: its nodes take their places in order (g
  // stays in a valid order), its initializers are added or replace g's, and g's
  // initializers only the old nodes read are removed. `rewritten` must produce every output
  // of the region and read only tensors g has outside the region; an initializer it shares
  // with nodes outside the region must be unchanged. The region no longer describes g
  // afterwards.
  void replace(OnnxGraph& g, const OnnxGraph& rewritten) const;

 private:
  struct NoOutputs {};
  Region(const OnnxGraph& g, std::vector<int> nodes, NoOutputs);
  void find_boundary();
  void set_outputs(std::vector<std::string> outputs, bool inputs_allowed);
  void auto_outputs();

  const OnnxGraph* g_;
  std::vector<int> nodes_;
  std::vector<char> in_;  // in_[i]: node i belongs to the region
  std::vector<std::string> inputs_, initializers_, outputs_;
  std::unordered_set<std::string> produced_;
};

}  // namespace dpl
