// Profiling (docs/spec.md 9): FP32 vs QDQ per layer and per network output, ranges, the
// per-tensor weight report, layer_res.json / model_res.json, profile.json, report.html; with
// --sensitivity, single-layer sensitivity and a suggested --skip_layers list.
// The work is in src/profile (docs/profiling.md).
#pragma once
#include <CLI/CLI.hpp>

namespace dpl {

struct PipelineContext;

struct ProfileArgs {
  bool skip_prof_layer = false;  // network outputs only (the original's flag)
  bool sensitivity = false;      // single-layer sensitivity and the suggested skip list
  int sensitivity_samples = 8;   // the first samples of the calibration set
  double target_cos = 0.99;      // output cosine the suggested skip list must reach
};

void add_profile_flags(CLI::App& app, ProfileArgs& args);
// Runs after the QDQ model is built (ctx.qdq); always runs, as in the original.
void profile_stage(PipelineContext& ctx);

}  // namespace dpl
