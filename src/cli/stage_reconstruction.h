// Weight transforms that train (docs/spec.md 8, docs/training.md): AdaRound for now; BRECQ,
// QDrop and sparsity will join it. Runs after the transforms without training, before the
// QDQ model; keeps the ranges (the rounded weights lie on their grids).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>

namespace dpl {

struct PipelineContext;

struct ReconArgs {
  bool adaround = false;
  int64_t ada_iters = 10000;  // reference recipe: iterations per layer
  int64_t ada_bs = 64;        // original recipe (given explicitly): batch size
  int64_t ada_epoch = 5000;   // original recipe (given explicitly): epochs
  bool original_recipe = false;  // --ada_bs or --ada_epoch given
  double ada_lambda = 0.01;
  int64_t cache_mb = 4096;
  uint64_t seed = 0;
  bool any() const { return adaround; }
};

void add_reconstruction_flags(CLI::App& app, ReconArgs& args);
// After parsing: which recipe the flags given select (call once the parser has run).
void resolve_reconstruction_flags(const CLI::App& app, ReconArgs& args);
// Runs AdaRound when asked and writes adaround.onnx.
void reconstruction_stage(PipelineContext& ctx);

}  // namespace dpl
