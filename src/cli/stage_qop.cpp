#include "cli/stage_qop.h"

#include <spdlog/spdlog.h>

#include "cli/pipeline_context.h"
#include "quant/qop_builder.h"

namespace dpl {

void add_qop_flags(CLI::App& app, QopArgs& a) {
  app.add_option("--quant_format", a.quant_format, "QDQ, or QOP to also write qop_model.onnx (QLinearConv/QLinearMatMul)")
      ->check(CLI::IsMember({"QDQ", "QOP"}))
      ->capture_default_str();
  app.add_option("--qnode_version", a.qnode_version, "opset of the QuantizeLinear/DequantizeLinear nodes (13 only)")
      ->check(CLI::IsMember({13}))
      ->capture_default_str();
}

void qop_stage(PipelineContext& ctx) {
  if (ctx.args.qop.quant_format != "QOP") return;
  QopModel m = ctx.qdq ? build_qop(ctx.graph, *ctx.qdq, ctx.platform, ctx.act, ctx.qdq_options)
                       : build_qop(ctx.graph, ctx.platform, ctx.act, ctx.weight, ctx.qdq_options);
  for (const auto& [node, why] : m.float_nodes) spdlog::info("QOP: '{}' stays float: {}", node, why);
  ctx.save_model(m.graph, "qop_model.onnx");
  spdlog::info("QOP model: {} QLinearConv/QLinearMatMul, {} Relu/Clip folded, {} ops on integers, {} quantized ops "
               "left float -> {}",
               m.qlinear_nodes.size(), m.folded_nodes.size(), m.integer_nodes.size(), m.float_nodes.size(),
               ctx.out("qop_model.onnx"));
}

}  // namespace dpl
