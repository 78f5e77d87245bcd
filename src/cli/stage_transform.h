// Weight transforms without training (SPEC 8, first three items; issue 6): BN folding before
// calibration, then bias correction, weight equalization and BN update.
#pragma once
#include <CLI/CLI.hpp>

namespace dpl {

struct PipelineContext;

struct TransformArgs {};

void add_transform_flags(CLI::App& app, TransformArgs& args);
// Runs on the prepared FP32 model before calibration (BN folding).
void transform_before_calibration(PipelineContext& ctx);
// Runs after the first calibration (bias correction, equalization, BN update); recalibrates
// through ctx.recalibrate where the model changed.
void transform_after_calibration(PipelineContext& ctx);

}  // namespace dpl
