#include "cli/stage_reconstruction.h"

#include <spdlog/spdlog.h>

#include "cli/pipeline_context.h"
#include "transform/adaround.h"
#include "transform/weight_equalization.h"
#include "util/error.h"

namespace dpl {

void add_reconstruction_flags(CLI::App& app, ReconArgs& args) {
  auto* g = app.add_option_group("Reconstruction", "learned rounding (docs/training.md)");
  auto* ada = g->add_flag("--adaround", args.adaround,
                          "AdaRound: learn the rounding of every Conv, ConvTranspose, Gemm and constant-weight MatMul "
                          "weight layer by layer; writes adaround.onnx");
  g->add_option("--ada_iters", args.ada_iters, "AdaRound iterations per layer (reference recipe: random batches of 32)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->needs(ada);
  g->add_option("--ada_bs", args.ada_bs,
                "batch size of the original's recipe (given: epochs x ceil(N / bs) iterations on sequential batches, "
                "cosine beta)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->needs(ada);
  g->add_option("--ada_epoch", args.ada_epoch, "epochs of the original's recipe (see --ada_bs)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->needs(ada);
  g->add_option("--ada_lambda", args.ada_lambda, "weight of the rounding regulariser")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->needs(ada);
  g->add_option("--cache_mb", args.cache_mb,
                "memory for the cached inputs and targets of the layer being trained; beyond it they spill to a file "
                "in the output folder")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  g->add_option("--seed", args.seed, "seed of the random batches")->capture_default_str();
}

void resolve_reconstruction_flags(const CLI::App& app, ReconArgs& args) {
  args.original_recipe = app.count("--ada_bs") > 0 || app.count("--ada_epoch") > 0;
  DPL_CHECK(!(args.original_recipe && app.count("--ada_iters") > 0),
            "--ada_iters (reference recipe) and --ada_bs / --ada_epoch (the original's recipe) exclude each other");
}

void reconstruction_stage(PipelineContext& ctx) {
  const ReconArgs& a = ctx.args.recon;
  if (!a.adaround) return;
  transform::AdaRoundOptions o;
  o.original_recipe = a.original_recipe;
  if (a.original_recipe) {
    o.batch = a.ada_bs;
    o.epochs = a.ada_epoch;
    o.beta.decay = train::BetaDecay::Cosine;
  } else {
    o.iters = a.ada_iters;
  }
  o.lambda = a.ada_lambda;
  o.cache_bytes = a.cache_mb << 20;
  o.cache_dir = ctx.args.output_dir;
  o.seed = a.seed;
  o.skip = ctx.qdq_options.skip_layers;
  if (ctx.args.transform.we) {
    // The first layer of an equalized pair computes a rescaled output that no longer matches
    // the FP32 target: it keeps round-to-nearest, as in the original.
    for (const auto& p : transform::equalization_pairs(ctx.graph, false)) o.skip.insert(p.first);
  }
  transform::TransformRunOptions run;
  run.threads = ctx.cali.threads;
  run.batch = ctx.cali.batch;
  auto r = transform::adaround(ctx.graph, ctx.fp_reference(), ctx.data, ctx.platform, ctx.act, ctx.weight,
                               ctx.qdq_options, o, run);
  spdlog::info("AdaRound: {} of {} layer(s) trained", r.trained(), r.layers.size());
  // Written whatever was trained, so that a run with --adaround always leaves the file.
  ctx.graph.save(ctx.out("adaround.onnx"));
  spdlog::info("wrote {}", ctx.out("adaround.onnx"));
}

}  // namespace dpl
