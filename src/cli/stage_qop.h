// The QOperator model (`--quant_format QOP`, docs/spec.md 11, docs/qop.md): qop_model.onnx, built by
// quant/qop_builder.h from the same model, ranges and Q/DQ decisions as quant_model.onnx.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace dpl {

struct PipelineContext;

struct QopArgs {
  std::string quant_format = "QDQ";  // "QDQ" | "QOP" (QOP also writes qop_model.onnx)
  int qnode_version = 13;            // opset of the Q/DQ nodes; only 13 is supported
};

void add_qop_flags(CLI::App& app, QopArgs& args);
// Runs last. With QOP, builds from ctx.graph, ctx.act and ctx.qdq (the ranges and pairs of
// quant_model.onnx, i.e. after any weight transform; the original passes its first
// calibration's ranges, which describe the model before those transforms) and writes
// ctx.out("qop_model.onnx").
void qop_stage(PipelineContext& ctx);

}  // namespace dpl
