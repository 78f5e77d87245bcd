// Small graph facts and edits that the weight transforms share (transform/*.h): initializers
// owned by one node, and the "incremental in graph order" schedule.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "core/tensor.h"
#include "graph/node_attrs.h"

namespace dpl::transform {

// Input `k` of node `node` when it is a float32 initializer, else an undefined tensor.
Tensor float_init(const OnnxGraph& g, const onnx::NodeProto& node, int k);

// Makes input `k` of node `node_index` an initializer that no other node input reads, so
// that editing it changes this node only: a shared initializer is copied to a new name
// (`<node name>_<suffix>`) and this input is pointed at the copy. Returns the name. The
// input must be an initializer.
std::string own_initializer(OnnxGraph& g, int node_index, int k, const std::string& suffix);

// Writes `value` as input `k` of the node: into its own initializer when it has one (see
// own_initializer), else into a new initializer `<node name>_<suffix>` appended as input k
// (inputs before k that are missing are added as empty names).
void set_node_input_value(OnnxGraph& g, int node_index, int k, const Tensor& value, const std::string& suffix);

// Schedule of an incremental pass over `nodes` (indices in graph order): each node's level
// is one more than the highest level among the selected nodes it depends on (0 when none).
// A node's result only depends on selected nodes of lower levels, so processing level by
// level gives the same result as processing one node at a time in graph order, with one
// pass over the data per level instead of per node. Returns the levels, each in graph order.
std::vector<std::vector<int>> dependency_levels(const OnnxGraph& g, const std::vector<int>& nodes);

// The nodes that `targets` depend on as a model of their own (graph/region.h Region::up_to,
// extracted with g's inputs), with `targets` as its graph outputs (so a fused session keeps
// them visible and a run returns only them).
OnnxGraph graph_up_to(const OnnxGraph& g, const std::vector<std::string>& targets);

// Whether `tensor` is read by exactly one node input and is not a graph output: the
// condition for rewriting its producer together with that consumer.
bool single_consumer(const OnnxGraph& g, const std::string& tensor);

}  // namespace dpl::transform
