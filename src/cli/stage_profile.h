// Profiling (SPEC 9; issue 5): FP32 vs QDQ per layer and per network output, ranges, the
// per-tensor weight report, layer_res.json / model_res.json, profile.json, report.html.
#pragma once
#include <CLI/CLI.hpp>

namespace dpl {

struct PipelineContext;

struct ProfileArgs {};

void add_profile_flags(CLI::App& app, ProfileArgs& args);
// Runs after the QDQ model is built (ctx.qdq).
void profile_stage(PipelineContext& ctx);

}  // namespace dpl
