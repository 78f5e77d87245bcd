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
};

void add_qdq_flags(CLI::App& app, QdqArgs& args);
// The builder's settings the flags give. The weight transforms build QDQ models with them
// too (bias correction, BN update), so the run sets them up before any stage.
QdqOptions qdq_options(const QdqArgs& args);
// Runs after the weight transforms: builds ctx.qdq from ctx.graph, ctx.act and ctx.weight
// with ctx.qdq_options and writes ctx.out("quant_model.onnx").
void qdq_stage(PipelineContext& ctx);

}  // namespace dpl
