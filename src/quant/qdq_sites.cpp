// The placement rules of docs/spec.md 7 as a walk that records where pairs go (quant/qdq_sites.h).
#include "quant/qdq_sites.h"

#include <optional>
#include <unordered_set>

#include "graph/transformer_patterns.h"
#include "graph/weight_axes.h"
#include "quant/precision.h"

namespace dpl {

namespace {

bool is_relu_type(const std::string& op) { return op == "Relu" || op == "PRelu" || op == "Mul"; }
// Producers a following one-input Relu is fused into (the original's MERGE_RELU).
bool merges_relu(const std::string& op) { return op == "Conv" || op == "Gemm" || op == "Eltwise" || op == "Add"; }

}  // namespace

QdqSites qdq_sites(const OnnxGraph& g, const Platform& platform, const QdqOptions& opts) {
  QdqSites out;
  std::unordered_set<std::string> paired;  // tensors whose pair exists already
  std::optional<TransformerPatterns> patterns;
  if (opts.transformer) patterns = find_transformer_patterns(g);
  auto quantizes = [&](const std::string& op) { return platform.quantizes(op) || (opts.transformer && op == "MatMul"); };
  const bool quant_matmul_weight = quantizes("MatMul");
  // Float32 or not known: quantizable. Shape tensors, indices etc. are not.
  auto is_float = [&](const std::string& t) {
    DType d = g.value_type(t);
    return d == DType::F32 || d == DType::Undefined;
  };
  // Records the use; true when it creates the tensor's pair.
  auto use = [&](const std::string& t, int node, int input, bool weight) {
    out.sites.push_back({t, node, input, weight});
    return paired.insert(t).second;
  };

  const int n = g.node_count();
  for (int i = 0; i < n; ++i) {
    const onnx::NodeProto& node = g.node(i);
    const std::string& op = node.op_type();
    if (!quantizes(op) || opts.skip_layers.count(node.name())) continue;
    if (opts.precision && opts.precision->skips(node)) continue;
    if (patterns && patterns->inside(i)) {
      out.kept_float[pattern_name(patterns->matches[patterns->match_of.at(i)].kind)].push_back(node.name());
      continue;
    }
    out.quant_nodes.push_back(node.name());
    if (patterns) out.matched[node.name()] = op == "MatMul" ? matmul_role_name(patterns->matmul.at(i)) : op;
    const int nin = node.input_size();
    const bool relu_type = is_relu_type(op);
    if (relu_type && nin > 0) {
      const int prev = node.input(0).empty() ? -1 : g.producer(node.input(0));
      if (prev < 0) continue;  // input 0 is a graph input or an initializer
      if (nin == 1 && merges_relu(g.node(prev).op_type())) continue;  // fused into its producer
    }
    bool found_weight = false, add_fused_into_conv = false, input0_created = false;
    for (int k = 0; k < nin; ++k) {
      const std::string& t = node.input(k);
      if (t.empty()) continue;
      if (relu_type && k > 0 && input0_created && opts.original_relu_type_inputs) continue;
      bool created = false;
      if (g.is_initializer(t)) {
        const bool weight_input = op_has_weight(op) || (quant_matmul_weight && op == "MatMul" && k == 1);
        if (!weight_input || found_weight) continue;  // biases and constants stay float
        found_weight = true;
        if (g.value_type(t) != DType::F32) continue;
        created = use(t, i, k, true);
      } else {
        if (!is_float(t)) continue;
        if (platform.fuses_add_into_conv && op == "Add" && !add_fused_into_conv) {
          const int prev = g.producer(t);
          if (prev >= 0 && g.node(prev).op_type() == "Conv") {
            add_fused_into_conv = true;  // the back end fuses this branch into the Conv
            continue;
          }
        }
        created = use(t, i, k, false);
      }
      if (k == 0 && created) input0_created = true;
    }
  }

  if (platform.quantize_network_output) {
    for (const auto& t : g.network_outputs()) {
      if (g.value_type(t) != DType::F32 && g.value_type(t) != DType::Undefined) {
        out.warnings.push_back(
            fmt::format("graph output '{}' is {}, not float: left unquantized", t, dtype_name(g.value_type(t))));
        continue;
      }
      use(t, g.producer(t), -1, false);
    }
  }
  return out;
}

}  // namespace dpl
