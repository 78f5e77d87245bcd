// Deploy files (docs/spec.md 11): the platform's parameter files and the extra formats
// (deploy/deploy.h, docs/deploy.md).
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace dpl {

struct PipelineContext;

struct DeployArgs {
  bool stpu_wg = false;                   // --stpu_wg: Winograd weight ranges in stpu_minmax.json
  std::vector<std::string> deploy_extra;  // --deploy_extra trt_cache aimet
};

void add_deploy_flags(CLI::App& app, DeployArgs& args);
// Runs after profiling, with the final ranges (ctx.act, ctx.weight) and ctx.qdq: writes the
// platform's files and each --deploy_extra format into the output folder.
void deploy_stage(PipelineContext& ctx);

}  // namespace dpl
