#include <spdlog/spdlog.h>

#include <limits>
#include <set>
#include <unordered_map>

#include "core/memory_budget.h"
#include "runtime/node_convert.h"
#include "optimizer/passes/passes.h"
#include "graph/tensor_proto.h"
#include "runtime/op_registry.h"
#include "util/error.h"

namespace dpl::passes {

namespace {

bool has_subgraph(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.type() == onnx::AttributeProto::GRAPH || a.type() == onnx::AttributeProto::GRAPHS) return true;
  return false;
}

// The inferred shape (when fully known) and type must agree with what the kernel made;
// when they do not, one of the two is wrong and the node is better left alone.
std::string disagreement(const OnnxGraph& g, const std::string& name, const Tensor& t) {
  DType want = g.value_type(name);
  if (want != DType::Undefined && want != t.dtype())
    return fmt::format("inferred type {} but the kernel made {}", dtype_name(want), dtype_name(t.dtype()));
  if (auto s = g.tensor_shape(name)) {
    bool known = true;
    for (auto d : *s) known = known && d >= 0;
    if (known && *s != t.shape())
      return fmt::format("inferred shape {} but the kernel made {}", shape_str(*s), shape_str(t.shape()));
  }
  return "";
}

// The bytes of a node's outputs as inference sees them (unknown dimensions count as 1, unknown
// types as 1 byte): a lower bound.
size_t inferred_bytes(const OnnxGraph& g, const onnx::NodeProto& n) {
  size_t total = 0;
  for (const auto& out : n.output()) {
    if (out.empty()) continue;
    const auto shape = g.tensor_shape(out);
    if (!shape) continue;
    const size_t elem = dtype_size(g.value_type(out));
    const size_t b = saturated_bytes(*shape, elem ? elem : 1);
    total = b > std::numeric_limits<size_t>::max() - total ? std::numeric_limits<size_t>::max() : total + b;
  }
  return total;
}

constexpr const char* kOverBudget = "folded constants over the budget";

}  // namespace

int fold_constants(OnnxGraph& g, const SimplifyOptions& opts, SimplifyStats& stats) {
  static const std::set<std::string> kNonDeterministic = {"RandomNormal",      "RandomUniform", "RandomNormalLike",
                                                          "RandomUniformLike", "Multinomial",   "Bernoulli"};
  const int opset = static_cast<int>(g.opset());
  // Decoded initializers and folded outputs, for the nodes after. Big tensors (the weights
  // of the light models) are decoded again when needed instead, so that folding a model's
  // weights does not hold them twice.
  constexpr size_t kCacheBytes = size_t{1} << 20;
  std::unordered_map<std::string, Tensor> values;
  std::vector<Tensor> scratch;
  auto value = [&](const std::string& name) -> const Tensor* {
    auto it = values.find(name);
    if (it != values.end()) return &it->second;
    Tensor t = g.get_initializer(name);
    if (t.bytes() <= kCacheBytes) return &values.emplace(name, std::move(t)).first->second;
    scratch.push_back(std::move(t));
    return &scratch.back();
  };
  const size_t budget = tensor_budget_bytes();
  auto over_budget = [&](const onnx::NodeProto& n, size_t want) {
    if (!stats.not_folded.count(kOverBudget))
      spdlog::warn("simplify: constant folding stops at node '{}' ({}): folded constants would need {} MB, over the "
                   "limit of {} MB (--max_tensor_mb); the nodes left compute their constants at run time",
                   n.name(), n.op_type(), (want + (size_t{1} << 20) - 1) >> 20, budget >> 20);
    stats.not_folded[kOverBudget]++;
  };
  std::vector<char> remove(g.node_count(), 0);
  int folded = 0;
  for (int i = 0; i < g.node_count(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    const bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!std_domain || n.op_type() == "Constant" || kNonDeterministic.count(n.op_type()) ||
        opts.no_fold_ops.count(n.op_type()) || has_subgraph(n))
      continue;
    bool all_const = true, any_input = false;
    for (const auto& in : n.input()) {
      if (in.empty()) continue;
      any_input = true;
      all_const = all_const && g.is_initializer(in);
    }
    if (!all_const || !any_input) continue;
    bool feeds_output = false, clash = false;
    for (const auto& out : n.output()) {
      feeds_output = feeds_output || g.is_network_output(out);
      clash = clash || g.is_initializer(out);
    }
    if (feeds_output || clash) continue;
    if (!OpRegistry::instance().has(n.op_type())) {
      stats.not_folded[n.op_type() + " (not implemented)"]++;
      continue;
    }
    // The sum of folded constants stays within the tensor budget: each output is (the
    // session and the budget checks see to it), but a few bytes of ConstantOfShape can ask for
    // many outputs just under it. Past the budget a node stays a node and runs at run time.
    // The inferred size (unknown dimensions as 1) is checked first, so that the kernel does
    // not fill memory only to have its output dropped.
    if (size_t want = stats.folded_bytes + inferred_bytes(g, n); want > budget) {
      over_budget(n, want);
      continue;
    }

    std::vector<const Tensor*> ins;
    std::vector<Tensor> outs(n.output_size());
    scratch.clear();
    scratch.reserve(n.input_size());  // pointers into it must stay valid
    try {
      NodeDesc d = node_desc_from_proto(n, opset);
      for (const auto& in : n.input()) ins.push_back(in.empty() ? nullptr : value(in));
      d.const_inputs = ins;
      auto op = OpRegistry::instance().create(n.op_type());
      op->init(d);
      OpContext ctx;
      op->forward(ctx, ins, outs);
    } catch (const std::exception& e) {
      spdlog::debug("simplify: node '{}' ({}) not folded: {}", n.name(), n.op_type(), e.what());
      stats.not_folded[n.op_type() + " (kernel refused: " + e.what() + ")"]++;
      continue;
    }
    std::string why;
    size_t bytes = 0;
    for (int k = 0; k < n.output_size() && why.empty(); ++k) {
      if (n.output(k).empty()) continue;
      if (!outs[k].defined())
        why = "output " + n.output(k) + " not computed";
      else
        why = disagreement(g, n.output(k), outs[k]);
      bytes += outs[k].bytes();
    }
    if (!why.empty()) {
      spdlog::warn("simplify: node '{}' ({}) not folded: {}", n.name(), n.op_type(), why);
      stats.not_folded[n.op_type() + " (" + why + ")"]++;
      continue;
    }
    if (opts.max_folded_bytes > 0 && bytes > static_cast<size_t>(opts.max_folded_bytes)) continue;
    if (stats.folded_bytes + bytes > budget) {
      over_budget(n, stats.folded_bytes + bytes);
      continue;
    }
    stats.folded_bytes += bytes;
    for (int k = 0; k < n.output_size(); ++k) {
      const std::string& name = n.output(k);
      if (name.empty()) continue;
      g.set_initializer(name, outs[k]);
      if (outs[k].bytes() <= kCacheBytes) values[name] = std::move(outs[k]);
    }
    remove[i] = 1;
    ++folded;
  }
  if (folded) g.remove_nodes(remove);
  return folded;
}

}  // namespace dpl::passes
