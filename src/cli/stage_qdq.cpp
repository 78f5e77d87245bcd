#include "cli/stage_qdq.h"

#include <spdlog/spdlog.h>

#include "cli/pipeline_context.h"

namespace dpl {

void add_qdq_flags(CLI::App& app, QdqArgs& args) {
  app.add_option("--skip_layers", args.skip_layers, "node names never quantized");
}

QdqOptions qdq_options(const QdqArgs& args) {
  QdqOptions o;
  o.skip_layers.insert(args.skip_layers.begin(), args.skip_layers.end());
  return o;
}

void qdq_stage(PipelineContext& ctx) {
  ctx.qdq = build_qdq(ctx.graph, ctx.platform, ctx.act, ctx.weight, ctx.qdq_options);
  ctx.qdq->graph.save(ctx.out("quant_model.onnx"));
  spdlog::info("quantized {} nodes with {} Q/DQ pairs", ctx.qdq->quant_nodes.size(), ctx.qdq->pairs.size());
}

}  // namespace dpl
