// The QDQ model (docs/spec.md 7): quant_model.onnx, built by quant/qdq_builder.h from the
// prepared (and transformed) model and the calibrated ranges, leaving the --skip_layers
// nodes float.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "quant/qdq_builder.h"

namespace dpl {

struct PipelineContext;

struct QdqArgs {
  std::vector<std::string> skip_layers;  // node names never quantized
  bool optim_transformer = false;        // --optim_transformer (docs/transformers.md)
  std::string model_type;                // --model_type: "unet" selects the same placement for now
  bool transformer() const { return optim_transformer || model_type == "unet"; }
};

void add_qdq_flags(CLI::App& app, QdqArgs& args);
// The builder's settings the flags give. The weight transforms build QDQ models with them
// too (bias correction, BN update), so the run sets them up before any stage.
QdqOptions qdq_options(const QdqArgs& args);
// The platform the run quantizes for: `p`, plus MatMul among the quantized op types with
// --optim_transformer (so that the deploy writers that list the quantized ops' inputs, atlas,
// include the MatMuls the QDQ model quantizes).
Platform run_platform(const QdqArgs& args, const Platform& p);
// Without --optim_transformer, on a graph that holds LayerNorm, GELU or attention patterns:
// one log line saying what the flag would change (docs/transformers.md "Without the flag").
void note_transformer_patterns(const QdqArgs& args, const OnnxGraph& g, const Platform& p);
// Runs after the weight transforms: builds ctx.qdq from ctx.graph, ctx.act and ctx.weight
// with ctx.qdq_options and writes ctx.out("quant_model.onnx").
void qdq_stage(PipelineContext& ctx);

}  // namespace dpl
