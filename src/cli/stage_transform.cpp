#include "cli/stage_transform.h"

#include "cli/pipeline_context.h"

namespace dpl {

void add_transform_flags(CLI::App&, TransformArgs&) {}
void transform_before_calibration(PipelineContext&) {}
void transform_after_calibration(PipelineContext&) {}

}  // namespace dpl
