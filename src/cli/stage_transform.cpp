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
  return r;
}

void save_model(const PipelineContext& ctx, const std::string& file) {
  ctx.graph.save(ctx.out(file));
  spdlog::info("wrote {}", ctx.out(file));
}

// Returns whether a BN was updated.
bool update_bn_step(PipelineContext& ctx) {
  return !transform::update_bn(ctx.graph, ctx.data, ctx.platform, ctx.act, ctx.weight, ctx.qdq_options,
                               run_options(ctx))
              .updated.empty();
}

void recalibrate_if(PipelineContext& ctx, bool changed, const std::string& step) {
  if (changed) {
    spdlog::info("recalibrating after {}", step);
    ctx.recalibrate();
  } else {
    spdlog::info("{} changed nothing; the ranges stay", step);
  }
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
    bool changed = update_bn_step(ctx);
    changed |= !transform::fold_batchnorm(ctx.graph).folded.empty();
    save_model(ctx, "update_bn_model.onnx");
    recalibrate_if(ctx, changed, "the BN update");
  }
  if (a.bc) {
    transform::bias_correction(ctx.graph, ctx.data, ctx.platform, ctx.act, ctx.weight, ctx.qdq_options,
                               run_options(ctx));
    save_model(ctx, "update_bias_model.onnx");
    ctx.recompute_weight_ranges();
  }
  if (a.we) {
    auto eq = transform::equalize_weights(ctx.graph);
    bool changed = !eq.equalized.empty();
    if (a.we_absorb)
      changed |= !transform::absorb_high_bias(ctx.graph, eq.equalized, ctx.data, run_options(ctx)).pairs.empty();
    save_model(ctx, "weight_equal_model.onnx");
    recalibrate_if(ctx, changed, "weight equalization");
  }
  if (a.update_bn && a.keep_bn) {
    const bool changed = update_bn_step(ctx);
    save_model(ctx, "update_bn_model.onnx");
    recalibrate_if(ctx, changed, "the BN update");
  }
}

}  // namespace dpl
