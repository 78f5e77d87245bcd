// Weight transforms without training (docs/spec.md 8, first three items; docs/weight_transforms.md):
// BN folding before calibration, then BN update, bias correction and weight equalization.
#pragma once
#include <CLI/CLI.hpp>

namespace dpl {

struct PipelineContext;

struct TransformArgs {
  bool keep_bn = false;    // do not fold BatchNormalization into the layer before it
  bool update_bn = false;  // re-estimate BN statistics in the quantized model
  bool bc = false;         // bias correction
  bool we = false;         // weight equalization
  bool we_absorb = false;  // high-bias absorption after weight equalization
};

void add_transform_flags(CLI::App& app, TransformArgs& args);
// Runs on the prepared FP32 model before calibration: BN folding (unless --keep_bn, or
// --update_bn, which needs the BN nodes and folds them after updating them).
void transform_before_calibration(PipelineContext& ctx);
// Runs after the first calibration. Order: with --update_bn and folding, BN update on the
// unfolded BNs, then folding, then recalibration; then bias correction (update_bias_model.onnx,
// weight ranges recomputed), weight equalization (weight_equal_model.onnx, recalibration),
// and with --keep_bn the BN update last as in the original (update_bn_model.onnx,
// recalibration).
void transform_after_calibration(PipelineContext& ctx);

}  // namespace dpl
