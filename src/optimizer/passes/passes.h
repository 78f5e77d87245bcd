// The simplifier's passes (graph/simplifier.h runs them in a loop). Each one returns how
// many changes it made and leaves the graph's lookup maps up to date. They expect a graph
// whose value_info is current (OnnxGraph::infer_shapes) where they read shapes.
#pragma once
#include <map>
#include <string>
#include <unordered_set>

#include "graph/onnx_graph.h"
#include "graph/region.h"
#include "optimizer/simplifier.h"

namespace dpl::passes {

// Nodes whose inputs are all initializers are run with the runtime's kernels and replaced
// by initializers holding their outputs. Operators the runtime lacks, kernels that refuse
// the node, non-deterministic operators, nodes with subgraphs and nodes producing a graph
// output stay; the first two are counted in stats.not_folded.
int fold_constants(OnnxGraph& g, const SimplifyOptions& opts, SimplifyStats& stats);

// Shape (with its opset-15 start/end) and Size of a tensor whose (needed) dimensions are all
// known become int64 initializers; so do Gather (axis 0) and 1-D Slice with constant
// indices reading a Shape node, when the dimensions they pick are known (the other ones
// may stay symbolic).
int fold_shapes(OnnxGraph& g);

// Identity, and Dropout in inference mode (no training_mode input set to true, mask unused),
// are removed: consumers read the input instead. When the output is a graph output, the
// input's producer is renamed to produce it, so graph output names never change.
int remove_identity(OnnxGraph& g);

// Flatten(x, axis=a) -> Softmax/LogSoftmax/Hardmax(axis=-1 or 1) -> Reshape(to the shape
// of x) is the operator on x over axis k when every dimension of x from a on is 1 except k
// (always so for a = rank-1; e.g. [N,C,1,1] at a = 1). Opset conversion leaves this
// pattern where the input rank was unknown or the axis not the last; the Flatten and
// Reshape go.
int collapse_softmax_reshape(OnnxGraph& g);

// Nodes none of whose outputs reach a graph output.
int remove_dead_nodes(OnnxGraph& g);

// Initializers no node (or subgraph) reads and no graph output names (with their graph
// input entries, IR < 4).
int remove_unused_initializers(OnnxGraph& g);

// Initializers also listed as graph inputs (IR < 4 style; in IR >= 4 they would be
// overridable inputs) stop being graph inputs. Does nothing below IR 4.
int drop_initializer_inputs(OnnxGraph& g);

// Names read by a node's subgraph attributes (If/Loop/Scan bodies): graph/region.h.
using dpl::collect_subgraph_reads;
// collect_subgraph_reads over every node of the graph.
std::unordered_set<std::string> subgraph_reads(const OnnxGraph& g);

}  // namespace dpl::passes
