// Deploy files (SPEC 11; issue 4): the platform's parameter files and the extra formats.
#pragma once
#include <CLI/CLI.hpp>

namespace dpl {

struct PipelineContext;

struct DeployArgs {};

void add_deploy_flags(CLI::App& app, DeployArgs& args);
// Runs after profiling, with the final ranges (ctx.act, ctx.weight) and ctx.qdq.
void deploy_stage(PipelineContext& ctx);

}  // namespace dpl
