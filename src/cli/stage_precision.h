// The precision plan of a run (docs/quant-config.md): the flags --w_bits, --a_bits,
// --first_last_8bit and --quant_config, read and checked before anything is written, then
// applied to the prepared model: logged, handed to calibration (each activation's bits, each
// weight's grid) and to the QDQ builder (QdqOptions::precision), and its fixed activation
// ranges put over the calibrated ones.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "quant/precision.h"

namespace dpl {

struct PipelineContext;
struct QuantizeArgs;

struct PrecisionArgs {
  int w_bits = 0, a_bits = 0;  // 0: the platform's (8)
  bool first_last_8bit = false;
  std::string quant_config;    // YAML or JSON file
};

void add_precision_flags(CLI::App& app, PrecisionArgs& args);
// Reads the config file and checks the flags (no model needed). Throws on any problem.
std::shared_ptr<const PrecisionPlan> precision_plan(const PrecisionArgs& args, const Platform& platform);
// On the prepared model, before the first file is written: no quantized weight holds NaN or
// Inf, and no output the run is asked for needs 8 bits where the plan has fewer
// (--deploy_extra trt_cache, --quant_format QOP: docs/quant-config.md).
void check_precision_outputs(const QuantizeArgs& args, const OnnxGraph& graph, const Platform& platform,
                             const QdqOptions& qdq);
// After BN folding: logs the plan as applied to ctx.graph (tensors per bit width, config
// entries that match nothing).
void log_precision(const PipelineContext& ctx);
// Each tensor's grid for calibration (ctx.cali.tensor_bits, ctx.weight_range), from the plan
// applied to ctx.graph as it is now (weight transforms may rename tensors).
void refresh_precision(PipelineContext& ctx);
// The config's fixed activation ranges replace the calibrated ones in ctx.act.
void apply_fixed_ranges(PipelineContext& ctx);

}  // namespace dpl
