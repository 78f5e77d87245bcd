#include "cli/stage_profile.h"

#include "cli/pipeline_context.h"

namespace dpl {

void add_profile_flags(CLI::App&, ProfileArgs&) {}
void profile_stage(PipelineContext&) {}

}  // namespace dpl
