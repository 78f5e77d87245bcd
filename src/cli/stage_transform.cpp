#include "cli/stage_transform.h"

#include <spdlog/spdlog.h>

#include "cli/pipeline_context.h"
#include "transform/bias_correction.h"
#include "transform/bn_fold.h"
#include "transform/update_bn.h"
#include "transform/weight_equalization.h"

namespace dpl {

namespace {

transform::TransformRunOptions run_options(const PipelineContext& ctx) {
  transform::TransformRunOptions r;
  r.threads = ctx.cali.threads;
  r.batch = ctx.cali.batch;
  r.comm = &ctx.comm;
  return r;
}

void save_model(const PipelineContext& ctx, const std::string& file) {
  if (!ctx.comm.root()) return;
  ctx.save_model(ctx.graph, file);
}

void update_bn_step(PipelineContext& ctx) {
  transform::update_bn(ctx.graph, ctx.data, ctx.platform, ctx.act, ctx.weight, ctx.qdq_options, run_options(ctx));
}

// Recalibrates after a step that may have changed the model, as the original does
// (also when the step found nothing to change: after a bias correction, that recalibration
// is what gives ranges of the corrected model).
void recalibrate_after(PipelineContext& ctx, const std::string& step) {
  spdlog::info("recalibrating after {}", step);
  ctx.recalibrate();
}

}  // namespace

void add_transform_flags(CLI::App& app, TransformArgs& args) {
  app.add_flag("--keep_bn", args.keep_bn,
               "keep BatchNormalization nodes (default: fold each BN that follows a Conv, ConvTranspose or Gemm "
               "into its weights before calibration)");
  app.add_flag("--update_bn", args.update_bn, "re-estimate BN statistics on the quantized model's activations");
  app.add_flag("--bc", args.bc, "bias correction (empirical, Conv and Gemm)");
  auto* we =
      app.add_flag("--we", args.we, "cross-layer weight equalization of Conv -> (Relu|PRelu|Clip) -> Conv pairs");
  app.add_flag("--we_absorb", args.we_absorb, "high-bias absorption after weight equalization (needs --we)")->needs(we);
}

void transform_before_calibration(PipelineContext& ctx) {
  const TransformArgs& a = ctx.args.transform;
  if (a.keep_bn || a.update_bn) return;  // --update_bn folds after updating
  transform::fold_batchnorm(ctx.graph);
}

void transform_after_calibration(PipelineContext& ctx) {
  const TransformArgs& a = ctx.args.transform;
  if (a.update_bn && !a.keep_bn) {
    // The BN update needs the BN nodes and a quantized model, i.e. calibration ranges of the
    // unfolded model: it runs first, then the BNs are folded and the model recalibrated.
    update_bn_step(ctx);
    // It ran the searched weights as quantized (their gains in); the folding takes the FP32
    // weights, searched again at the recalibration.
    transform::restore_weights(ctx.graph, ctx.fp_weights);
    transform::fold_batchnorm(ctx.graph);
    save_model(ctx, "update_bn_model.onnx");
    recalibrate_after(ctx, "the BN update");
  }
  if (a.bc) {
    transform::bias_correction(ctx.graph, ctx.data, ctx.platform, ctx.act, ctx.weight, ctx.qdq_options,
                               run_options(ctx));
    save_model(ctx, "update_bias_model.onnx");
    ctx.recompute_weight_ranges();
  }
  if (a.we) {
    transform::restore_weights(ctx.graph, ctx.fp_weights);  // equalized as FP32 (recalibrated after)
    auto eq = transform::equalize_weights(ctx.graph);
    if (a.we_absorb) transform::absorb_high_bias(ctx.graph, eq.equalized, ctx.data, run_options(ctx));
    save_model(ctx, "weight_equal_model.onnx");
    recalibrate_after(ctx, "weight equalization");
  }
  if (a.update_bn && a.keep_bn) {
    update_bn_step(ctx);
    save_model(ctx, "update_bn_model.onnx");
    recalibrate_after(ctx, "the BN update");
  }
}

}  // namespace dpl
