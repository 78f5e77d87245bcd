// Builds the QOperator model (`--quant_format QOP`, docs/spec.md 11: qop_model.onnx) from the
// same decisions and parameters as the QDQ model, so that both compute the same thing wherever
// an integer kernel allows it: QLinearConv / QLinearMatMul where the QDQ model rounds the
// output anyway, integer MaxPool/Reshape/Transpose/Flatten/Concat, everything else in float
// between DequantizeLinear and QuantizeLinear. Only standard ai.onnx operators: it runs in
// plain ONNX Runtime. The rules, with the reasons and measurements: docs/qop.md; the
// lowerings: quant/qop/. Every quantized tensor must be at 8 bits (a sub-8-bit plan is
// refused: the integer operators requantize to the full int8/uint8 range).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"

namespace dpl {

struct QopModel {
  OnnxGraph graph;                           // opset 13, passes onnx::checker
  std::vector<std::string> qlinear_nodes;    // FP nodes now QLinearConv / QLinearMatMul (same names)
  std::vector<std::string> folded_nodes;     // Relu/Clip nodes absorbed into the preceding op's output range
  std::vector<std::string> integer_nodes;    // MaxPool/Reshape/Transpose/Flatten/Concat running on integers
  // Conv/Gemm/MatMul nodes the QDQ model quantizes that stay float here, with the reason.
  std::vector<std::pair<std::string, std::string>> float_nodes;
  std::map<std::string, std::string> outputs;  // FP graph output -> its name in `graph` (as QdqModel::outputs)
  std::vector<std::string> warnings;         // also logged
};

// `qdq` must be build_qdq's result for `fp` (same nodes and names): its pairs say which
// inputs are quantized and with which parameters. `act` gives the ranges of tensors the QDQ
// model leaves float (outputs of the integer ops). `opts.skip_layers`: nodes never
// quantized; a skipped Relu/Clip is never folded.
QopModel build_qop(const OnnxGraph& fp, const QdqModel& qdq, const Platform& platform, const ActRanges& act,
                   const QdqOptions& opts);
// Builds the QDQ model first.
QopModel build_qop(const OnnxGraph& fp, const Platform& platform, const ActRanges& act, const WeightRanges& weight,
                   const QdqOptions& opts);

}  // namespace dpl
