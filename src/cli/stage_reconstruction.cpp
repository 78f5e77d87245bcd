#include "cli/stage_reconstruction.h"

#include <spdlog/spdlog.h>

#include "cli/pipeline_context.h"
#include "dist/same_files.h"
#include "transform/adaround.h"
#include "transform/brecq.h"
#include "transform/sparse_quant.h"
#include "transform/weight_equalization.h"
#include "util/error.h"

namespace dpl {

void add_reconstruction_flags(CLI::App& app, ReconArgs& args) {
  auto* g = app.add_option_group("Reconstruction", "learned rounding and sparsity (docs/training.md)");
  g->add_flag("--adaround", args.adaround,
              "AdaRound: learn the rounding of every Conv, ConvTranspose, Gemm and constant-weight MatMul weight layer "
              "by layer; writes adaround.onnx");
  g->add_flag("--brecq", args.brecq,
              "BRECQ: learn the rounding of the layers of each block jointly, and the activation steps inside it "
              "(LSQ); writes brecq.onnx");
  g->add_flag("--drop", args.drop,
              "with --brecq, QDrop: each quantized activation inside a block, and the block input, keeps its float "
              "value at random");
  g->add_option("--drop_prob", args.drop_prob, "QDrop: probability that an element takes its quantized value")
      ->capture_default_str();
  g->add_option("--recon_blocks", args.recon_blocks,
                "blocks of --brecq: 'network' (residual-aware, MQBench's rule) or 'original' (chains of up to 3 "
                "Conv/Gemm through Relu)")
      ->check(CLI::IsMember({"network", "original"}))
      ->capture_default_str();
  g->add_flag("--sparse", args.sparse,
              "sparse quantization: prune and train each layer's weights through a quantizer; writes "
              "sparse_quant.onnx");
  g->add_option("--sparse_rate", args.sparse_rate, "--sparse unstruction: share of each layer's weights set to 0")
      ->capture_default_str();
  g->add_option("--pattern", args.pattern,
                "--sparse pattern: 'unstruction' (the smallest |w| of each layer) or 'nv24' (2 of every 4 input "
                "channels)")
      ->check(CLI::IsMember({"unstruction", "nv24"}))
      ->capture_default_str();
  g->add_option("--ada_iters", args.ada_iters,
                "iterations per layer (AdaRound, sparse) or per block (BRECQ, QDrop) on random batches of 32; "
                "default 10000 for AdaRound, 5000 for BRECQ/QDrop and sparse")
      ->check(CLI::PositiveNumber);
  g->add_option("--ada_bs", args.ada_bs,
                "batch size of the original's recipe (given: epochs x ceil(N / bs) iterations per layer on "
                "sequential batches, cosine beta)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  g->add_option("--ada_epoch", args.ada_epoch, "epochs of the original's recipe (see --ada_bs)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  g->add_option("--ada_lambda", args.ada_lambda,
                "weight of the rounding regulariser (the QDrop authors use 0.1 for MobileNetV2)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  g->add_option("--cache_mb", args.cache_mb,
                "memory for the cached per-sample values reconstruction carries from layer to layer (the inputs "
                "and targets of the layer or block being trained among them); beyond it they spill to a file in "
                "the output folder")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  g->add_option("--seed", args.seed, "seed of the random batches and drop masks")->capture_default_str();
}

void resolve_reconstruction_flags(const CLI::App& app, ReconArgs& args) {
  auto given = [&](const char* flag) { return app.count(flag) > 0; };
  DPL_CHECK(!(args.sparse && (args.adaround || args.brecq)),
            "--sparse trains the weights themselves and excludes --adaround and --brecq (the original lets sparse "
            "win silently); choose one");
  DPL_CHECK(!(args.adaround && args.brecq), "--adaround and --brecq exclude each other (BRECQ trains the same "
            "rounding, by blocks); choose one");
  for (const char* f : {"--ada_iters", "--ada_bs", "--ada_epoch", "--ada_lambda"})
    DPL_CHECK(!given(f) || args.any(), "{} needs --adaround, --brecq or --sparse", f);
  DPL_CHECK(!given("--recon_blocks") || args.brecq, "--recon_blocks needs --brecq");
  DPL_CHECK(!given("--drop_prob") || args.drop, "--drop_prob needs --brecq --drop");
  DPL_CHECK(!(given("--sparse_rate") || given("--pattern")) || args.sparse, "--sparse_rate and --pattern need --sparse");
  DPL_CHECK(args.sparse_rate > 0 && args.sparse_rate < 1, "--sparse_rate must lie strictly between 0 and 1, got {}",
            args.sparse_rate);
  DPL_CHECK(args.drop_prob > 0 && args.drop_prob <= 1, "--drop_prob must lie in (0, 1], got {}", args.drop_prob);
  if (args.drop && !args.brecq) {
    args.drop_ignored = true;
    args.drop = false;
  }
  args.original_recipe = given("--ada_bs") || given("--ada_epoch");
  DPL_CHECK(!(args.original_recipe && given("--ada_iters")),
            "--ada_iters (reference recipe) and --ada_bs / --ada_epoch (the original's recipe) exclude each other");
  if (!given("--ada_iters")) args.ada_iters = args.brecq ? kBlockIters : args.sparse ? kSparseIters : kAdaRoundIters;
}

namespace {

std::set<std::string> skipped_layers(const PipelineContext& ctx) {
  std::set<std::string> skip = ctx.qdq_options.skip_layers;
  if (ctx.args.transform.we) {
    // The first layer of an equalized pair computes a rescaled output that no longer matches
    // the FP32 target: it keeps round-to-nearest, as in the original.
    for (const auto& p : transform::equalization_pairs(ctx.graph, false)) skip.insert(p.first);
  }
  return skip;
}

// The settings AdaRound, BRECQ/QDrop and sparse share: the recipe (iterations, or the
// original's epochs and batch), the cache, the seed and the layers left alone.
template <typename Options>
Options common_options(const PipelineContext& ctx) {
  const ReconArgs& a = ctx.args.recon;
  Options o;
  o.original_recipe = a.original_recipe;
  if (a.original_recipe) {
    o.batch = a.ada_bs;
    o.epochs = a.ada_epoch;
  } else {
    o.iters = a.ada_iters;
  }
  o.cache_bytes = a.cache_mb << 20;
  o.cache_dir = ctx.args.output_dir;
  o.seed = a.seed;
  o.skip = skipped_layers(ctx);
  return o;
}

void run_adaround(PipelineContext& ctx, const transform::TransformRunOptions& run) {
  const ReconArgs& a = ctx.args.recon;
  auto o = common_options<transform::AdaRoundOptions>(ctx);
  if (a.original_recipe) o.beta.decay = train::BetaDecay::Cosine;
  o.lambda = a.ada_lambda;
  auto r = transform::adaround(ctx.graph, ctx.fp_reference(), ctx.data, ctx.platform, ctx.act, ctx.weight,
                               ctx.qdq_options, o, run);
  spdlog::info("AdaRound: {} of {} layer(s) trained", r.trained(), r.layers.size());
}

void run_brecq(PipelineContext& ctx, const transform::TransformRunOptions& run) {
  const ReconArgs& a = ctx.args.recon;
  auto o = common_options<transform::BrecqOptions>(ctx);
  if (a.original_recipe) o.beta.decay = train::BetaDecay::Cosine;
  o.lambda = a.ada_lambda;
  o.drop = a.drop;
  o.drop_prob = a.drop_prob;
  o.rule = transform::parse_block_rule(a.recon_blocks);
  if (ctx.platform.act.log_scale) {
    o.learn_scales = false;
    spdlog::info("{}: activation steps are powers of two on {}: they are not learned", a.drop ? "QDrop" : "BRECQ",
                 ctx.platform.name);
  }
  auto r = transform::brecq(ctx.graph, ctx.fp_reference(), ctx.data, ctx.platform, ctx.act, ctx.weight,
                            ctx.qdq_options, o, run);
  spdlog::info("{}: {} of {} block(s) trained", a.drop ? "QDrop" : "BRECQ", r.trained(), r.blocks.size());
}

void run_sparse(PipelineContext& ctx, const transform::TransformRunOptions& run) {
  const ReconArgs& a = ctx.args.recon;
  auto o = common_options<transform::SparseOptions>(ctx);
  o.rate = a.sparse_rate;
  o.pattern = transform::parse_sparse_pattern(a.pattern);
  auto r = transform::sparse_quant(ctx.graph, ctx.fp_reference(), ctx.data, ctx.platform, ctx.act, ctx.weight,
                                   ctx.qdq_options, o, run);
  spdlog::info("sparse: {} of {} layer(s) pruned and trained, {:.1f}% of their weights are 0", r.trained(),
               r.layers.size(), 100 * r.sparsity());
  ctx.sparsity.clear();
  for (const auto& l : r.layers)
    ctx.sparsity.push_back(LayerSparsity{l.name, l.weight, l.zeros, l.total, l.trained && l.pruned});
}


// Data-parallel training keeps the parameters identical on every rank (every update is
// computed from the same reduced gradient): checked once at the end, so that a divergence
// can never pass silently into the files rank 0 writes.
void check_ranks_agree(PipelineContext& ctx) {
  if (!ctx.comm.distributed()) return;
  uint64_t h = dist::checksum_bytes(nullptr, 0);
  for (const auto& [name, range] : ctx.weight) {
    if (!ctx.graph.is_initializer(name)) continue;
    const Tensor t = ctx.graph.get_initializer(name);
    if (t.dtype() == DType::F32) h = dist::checksum_bytes(t.data<float>(), sizeof(float) * t.numel(), h);
  }
  for (const auto& [name, r] : ctx.act) {
    const float v[2] = {r.lo, r.hi};
    h = dist::checksum_bytes(v, sizeof v, h);
  }
  const std::string mine = fmt::format("{:016x}", h);
  const std::vector<std::string> all = ctx.comm.allgather(mine);
  for (size_t r = 1; r < all.size(); ++r)
    DPL_CHECK(all[r] == all[0], "internal: after reconstruction the weights or ranges of rank {} differ from rank 0's",
              r);
  spdlog::info("reconstruction: weights and ranges identical on all {} ranks (checksum {})", all.size(), mine);
}

}  // namespace

void reconstruction_stage(PipelineContext& ctx) {
  const ReconArgs& a = ctx.args.recon;
  if (a.drop_ignored)
    spdlog::warn("--drop works with --brecq only (QDrop is BRECQ with drop): it is ignored; {}",
                 a.adaround ? "AdaRound runs without it" : a.sparse ? "sparse runs without it" : "no reconstruction runs");
  if (!a.any()) return;
  transform::TransformRunOptions run;
  run.threads = ctx.cali.threads;
  run.batch = ctx.cali.batch;
  run.comm = &ctx.comm;
  std::string file;
  if (a.adaround) run_adaround(ctx, run), file = "adaround.onnx";
  if (a.brecq) run_brecq(ctx, run), file = "brecq.onnx";
  if (a.sparse) run_sparse(ctx, run), file = "sparse_quant.onnx";
  check_ranks_agree(ctx);
  // Written whatever was trained, so that a run with the flag always leaves the file.
  if (!ctx.comm.root()) return;
  ctx.save_model(ctx.graph, file);
}

}  // namespace dpl
