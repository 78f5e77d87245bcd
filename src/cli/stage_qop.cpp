#include "cli/stage_qop.h"

#include "cli/pipeline_context.h"

namespace dpl {

void add_qop_flags(CLI::App&, QopArgs&) {}
void qop_stage(PipelineContext&) {}

}  // namespace dpl
