// Where the QDQ model puts its Q/DQ pairs (docs/spec.md 7), decided without any range: the
// placement walk of quant/qdq_builder.h on its own, so that the precision plan
// (quant/precision.h) resolves each quantized tensor's grid from exactly the tensors and uses
// the builder quantizes, and the builder then reads those grids.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "quant/platform.h"

namespace dpl {

class PrecisionPlan;

struct QdqOptions {
  std::set<std::string> skip_layers;  // node names never quantized
  // The original checks "input 0 has no producer" of Relu/PRelu/Mul against a map that is
  // only refreshed after each node, so once input 0 got a pair created at this very node,
  // the node's later inputs (a PRelu slope, the second factor of a Mul) are left float.
  // true reproduces that (same Q/DQ placement as the original); false quantizes them.
  bool original_relu_type_inputs = true;
  // Warnings only in QdqModel::warnings, not logged: for callers that build the QDQ model of
  // one model many times (transform/incremental.h) and whose warnings the final one repeats.
  bool quiet = false;
  // Each tensor's bits, symmetry and granularity, and the nodes it skips (--w_bits, --a_bits,
  // --first_last_8bit, --quant_config). Null: the platform table for every tensor.
  std::shared_ptr<const PrecisionPlan> precision;
  // --optim_transformer (docs/transformers.md): the inputs of every MatMul are quantized (a
  // constant weight per output channel where the platform's weights are, activations per
  // tensor), whatever the platform's op list; the nodes inside a LayerNorm, GELU, Swish,
  // Softmax, linear bias Add or attention scaling (graph/transformer_patterns.h) are not.
  bool transformer = false;
};

// One quantized use of a tensor, in the order the builder meets them (a tensor's first site
// creates its pair, later ones share it).
struct QdqSite {
  std::string tensor;
  int node = -1;        // the consumer (index in the graph the sites come from); for a graph
                        // output pair its producer, -1 when it is a graph input
  int input = -1;       // input index at `node`; -1 for a graph output pair
  bool weight = false;  // a weight pair (initializer), else an activation pair
  bool output() const { return input < 0; }
};

struct QdqSites {
  std::vector<QdqSite> sites;
  std::vector<std::string> quant_nodes;  // QdqModel::quant_nodes
  std::vector<std::string> warnings;     // graph outputs that are not float
  // With QdqOptions::transformer: what each quantized node matched, by node name ("linear
  // (constant weight)", "attention Q.K^T", ...; other nodes: their op type), and the nodes
  // kept in float because they lie inside a pattern although the platform quantizes their
  // op type, by pattern name.
  std::map<std::string, std::string> matched;
  std::map<std::string, std::vector<std::string>> kept_float;
};

// `g` must be topologically sorted (build_qdq sorts its copy first). Nodes in
// opts.skip_layers, and those opts.precision skips, are not quantized.
QdqSites qdq_sites(const OnnxGraph& g, const Platform& platform, const QdqOptions& opts);

}  // namespace dpl
