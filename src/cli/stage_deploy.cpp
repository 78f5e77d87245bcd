#include "cli/stage_deploy.h"

#include <spdlog/spdlog.h>

#include "cli/pipeline_context.h"
#include "deploy/deploy.h"

namespace dpl {

void add_deploy_flags(CLI::App& app, DeployArgs& args) {
  app.add_flag("--stpu_wg", args.stpu_wg,
               "stpu: Winograd-domain weight ranges for 3x3 stride-1 convolutions in stpu_minmax.json");
  app.add_option("--deploy_extra", args.deploy_extra,
                 "extra deploy formats: trt_cache (TensorRT calibration cache), aimet (AIMET/QNN encodings)")
      ->check(CLI::IsMember(deploy_extra_names()))
      ->expected(1, -1);
}

void deploy_stage(PipelineContext& ctx) {
  spdlog::info("Deploy to {}...", ctx.platform.name);
  DeployInput in{ctx.graph, ctx.platform, ctx.act, ctx.weight};
  in.qdq = ctx.qdq ? &*ctx.qdq : nullptr;
  in.stpu_wg = ctx.args.deploy_files.stpu_wg;
  in.act_algo = ctx.args.act_quant;
  if (in.stpu_wg && ctx.platform.name != "stpu") spdlog::warn("--stpu_wg only changes stpu_minmax.json (-D stpu)");
  write_deploy_files(in, ctx.args.deploy_files.deploy_extra, ctx.args.output_dir);
}

}  // namespace dpl
