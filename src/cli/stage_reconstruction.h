// Weight transforms that train (docs/spec.md 8, docs/training.md): AdaRound, BRECQ, QDrop and
// sparse quantization. Runs after the transforms without training, before the QDQ model;
// keeps the weight ranges (the learned weights lie on their grids); BRECQ and QDrop replace
// the ranges of the activations whose steps they learn.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace dpl {

struct PipelineContext;

// --ada_iters when not given: AdaRound per layer, BRECQ / QDrop per block, sparse per layer
// (docs/training.md, "Iterations on a CPU").
inline constexpr int64_t kAdaRoundIters = 10000;
inline constexpr int64_t kBlockIters = 5000;
inline constexpr int64_t kSparseIters = 5000;

struct ReconArgs {
  bool adaround = false;
  bool brecq = false;
  bool drop = false;
  double drop_prob = 0.5;
  std::string recon_blocks = "network";
  bool drop_ignored = false;  // --drop given without --brecq (warned in the stage, so the log file has it)
  bool sparse = false;
  double sparse_rate = 0.5;
  std::string pattern = "unstruction";
  int64_t ada_iters = kAdaRoundIters;  // reference recipe: iterations per layer / block
  int64_t ada_bs = 64;        // original recipe (given explicitly): batch size
  int64_t ada_epoch = 5000;   // original recipe (given explicitly): epochs
  bool original_recipe = false;  // --ada_bs or --ada_epoch given
  double ada_lambda = 0.01;
  int64_t cache_mb = 4096;
  uint64_t seed = 0;
  bool any() const { return adaround || brecq || sparse; }
};

void add_reconstruction_flags(CLI::App& app, ReconArgs& args);
// After parsing: checks the combination (one clear line per mistake), warns about flags that
// do nothing (--drop without --brecq), and resolves the recipe and the default iterations.
void resolve_reconstruction_flags(const CLI::App& app, ReconArgs& args);
// Runs the transform asked for and writes adaround.onnx, brecq.onnx or sparse_quant.onnx.
void reconstruction_stage(PipelineContext& ctx);

}  // namespace dpl
