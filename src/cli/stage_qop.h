// The QOperator model (`--quant_format QOP`, SPEC 11; issue 4): qop_model.onnx.
#pragma once
#include <CLI/CLI.hpp>

namespace dpl {

struct PipelineContext;

struct QopArgs {};

void add_qop_flags(CLI::App& app, QopArgs& args);
// Runs last; builds from ctx.graph and ctx.first_act (the original's tensor_range).
void qop_stage(PipelineContext& ctx);

}  // namespace dpl
