// The per-tensor precision plan (docs/quant-config.md): which grid (bits, symmetry,
// granularity) every quantized weight and activation gets, and which nodes stay float. One plan
// is read by everything that needs a tensor's precision: the QDQ builder (through
// QdqOptions::precision, so the weight transforms' QDQ models too), calibration
// (CaliOptions::tensor_bits, WeightRangeOptions::tensor_grid), profiling and the deploy files.
//
// Layers, later ones winning key by key (most specific wins):
//   1. the platform table (docs/spec.md 5): 8 bits everywhere;
//   2. --w_bits / --a_bits: every weight / activation;
//   3. --first_last_8bit: the weights and activation inputs of the first weighted layers
//      (those no other weighted layer precedes) and of the last ones (those no other weighted
//      layer follows), and the graph-output pairs of platforms that quantize outputs, at 8;
//   4. --quant_config, section by section: op_types, then every matching glob of patterns in
//      file order, then nodes (by name), then tensors (by name).
// A node's w_bits, symmetric, per_channel go to its weight; its a_bits and symmetric to the
// activations it reads. An activation read by several quantized nodes takes the highest
// a_bits they ask for, and the symmetry of the first of them that sets one.
//
// The plan holds rules keyed by node and tensor names and is applied to a graph when asked
// (resolve_precision), so weight transforms that edit the graph never leave it stale.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_sites.h"
#include "quant/quant_config.h"

namespace dpl {

struct PrecisionOptions {
  int w_bits = 0, a_bits = 0;    // 0: the platform's
  bool first_last_8bit = false;
  QuantConfig config;
};

class PrecisionPlan {
 public:
  // Throws when --w_bits / --a_bits lie outside 2..8.
  PrecisionPlan(const Platform& platform, PrecisionOptions opts);

  const QuantSpec& weight_default() const { return weight_; }
  const QuantSpec& act_default() const { return act_; }
  const PrecisionOptions& options() const { return opts_; }

  // What the config's op_types, patterns and nodes sections say about node `n`, merged.
  struct NodeRule {
    std::optional<int> w_bits, a_bits;
    std::optional<bool> skip, symmetric, per_channel;
  };
  NodeRule node_rule(const onnx::NodeProto& n) const;
  bool skips(const onnx::NodeProto& n) const { return node_rule(n).skip.value_or(false); }
  // The tensors section's entry for `t`, or null.
  const QuantOverride* tensor_rule(const std::string& t) const;

  // Fixed activation ranges of the tensors section, by tensor.
  std::map<std::string, Range> fixed_ranges() const;
  // One warning per config entry that names nothing in `g` (an op type no node has, a
  // pattern no node name matches, an unknown node or tensor, a range given for a weight).
  std::vector<std::string> unmatched(const OnnxGraph& g) const;
  // True when some setting may differ from the platform table.
  bool changes_anything() const;

 private:
  PrecisionOptions opts_;
  QuantSpec weight_, act_;
};

// The plan applied to one graph: every tensor the QDQ model quantizes, with its grid.
struct TensorPrecisions {
  QuantSpec weight_default, act_default;
  std::map<std::string, QuantSpec> weights, acts;
  // The tensor's grid, or the default for a tensor the QDQ model does not quantize.
  const QuantSpec& weight(const std::string& t) const;
  const QuantSpec& act(const std::string& t) const;
  // "weights: 8 bits x 2, 4 bits x 10; activations: 8 bits x 3, 4 bits x 19".
  std::string summary() const;
  // The quantized tensors (weights, then activations, by name) with fewer than 8 bits.
  std::vector<std::string> below_8bit() const;
};

// `plan` null: the platform table. `sites` must come from qdq_sites(g, platform, ...).
TensorPrecisions resolve_precision(const PrecisionPlan* plan, const Platform& platform, const OnnxGraph& g,
                                   const std::vector<QdqSite>& sites);
// The same for the QDQ model build_qdq(g, platform, ..., opts) makes.
TensorPrecisions resolve_precision(const OnnxGraph& g, const Platform& platform, const QdqOptions& opts);

// Throws naming the first initializer read by a quantized weight site's node (its weight, bias,
// other parameters) that holds NaN or an infinity.
void check_finite_weights(const OnnxGraph& g, const Platform& platform, const QdqOptions& opts);

}  // namespace dpl
