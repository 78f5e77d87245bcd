#include "cli/stage_qdq.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <map>

#include "cli/pipeline_context.h"
#include "graph/transformer_patterns.h"

namespace dpl {

void add_qdq_flags(CLI::App& app, QdqArgs& args) {
  app.add_option("--skip_layers", args.skip_layers, "node names never quantized");
  app.add_flag("--optim_transformer", args.optim_transformer,
               "transformer placement: quantize the inputs of every MatMul (constant weights per output channel "
               "where the platform's weights are per channel, activations per tensor) and keep LayerNorm, GELU, "
               "Swish, HardSwish, Softmax, linear bias Adds, attention scaling and other element-wise ops with a "
               "constant operand in float (docs/transformers.md)");
  app.add_option("--model_type", args.model_type, "unet: the same placement as --optim_transformer for now")
      ->check(CLI::IsMember({"unet"}));
}

QdqOptions qdq_options(const QdqArgs& args) {
  QdqOptions o;
  o.skip_layers.insert(args.skip_layers.begin(), args.skip_layers.end());
  o.transformer = args.transformer();
  return o;
}

Platform run_platform(const QdqArgs& args, const Platform& p) {
  Platform r = p;
  if (args.transformer() && !r.quantizes("MatMul")) r.quant_nodes.push_back("MatMul");
  return r;
}

namespace {

// "4 LayerNorm, 8 Softmax" for the patterns found.
std::string pattern_counts(const TransformerPatterns& t) {
  std::string s;
  for (PatternKind k : {PatternKind::LayerNorm, PatternKind::GeluErf, PatternKind::GeluTanh, PatternKind::Swish,
                        PatternKind::HardSwish, PatternKind::Softmax, PatternKind::LinearBias,
                        PatternKind::AttentionScale, PatternKind::ConstOperand})
    if (const int c = t.count(k)) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", c, pattern_name(k));
  return s.empty() ? "none" : s;
}

}  // namespace

void note_transformer_patterns(const QdqArgs& args, const OnnxGraph& g, const Platform& p) {
  if (args.transformer()) return;
  const TransformerPatterns t = find_transformer_patterns(g);
  if (!t.is_transformer()) return;
  const int matmuls = static_cast<int>(t.matmul.size());
  const int unquantized = p.quantizes("MatMul") ? 0 : matmuls;
  int inside = 0;
  for (const auto& kv : t.match_of) inside += p.quantizes(g.node(kv.first).op_type());
  spdlog::warn(
      "the model holds transformer patterns ({}; {} MatMuls): --optim_transformer would quantize the inputs of the {} "
      "MatMuls platform {} leaves float and keep the {} nodes inside these patterns that it quantizes in float "
      "(docs/transformers.md)",
      pattern_counts(t), matmuls, unquantized, p.name, inside);
}

void qdq_stage(PipelineContext& ctx) {
  ctx.qdq = build_qdq(ctx.graph, ctx.platform, ctx.act, ctx.weight, ctx.qdq_options);
  if (ctx.comm.root()) ctx.save_model(ctx.qdq->graph, "quant_model.onnx");
  spdlog::info("quantized {} nodes with {} Q/DQ pairs", ctx.qdq->quant_nodes.size(), ctx.qdq->pairs.size());
  if (!ctx.qdq_options.transformer) return;
  // Which pattern each quantized node matched: one line per role, then one per MatMul.
  std::map<std::string, int> roles;
  for (const auto& [node, role] : ctx.qdq->matched) ++roles[role];
  std::string summary;
  for (const auto& [role, n] : roles) summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, role);
  spdlog::info("transformer placement: quantized {}", summary.empty() ? "nothing" : summary);
  for (const auto& [pattern, nodes] : ctx.qdq->kept_float)
    spdlog::info("transformer placement: kept in float inside {}: {} nodes ({})", pattern, nodes.size(),
                 fmt::join(nodes, ", "));
  const OnnxGraph& q = ctx.qdq->graph;
  for (const auto& name : ctx.qdq->quant_nodes)  // graph order
    if (q.has_node(name) && q.node(q.node_index(name)).op_type() == "MatMul")
      spdlog::info("  {}: {}", name, ctx.qdq->matched.at(name));
}

}  // namespace dpl
