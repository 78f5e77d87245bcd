// Builds the QOperator model (`--quant_format QOP`, SPEC 11: qop_model.onnx) from the same
// decisions and parameters as the QDQ model, so that both compute the same thing wherever an
// integer kernel allows it. Only standard ai.onnx operators: it runs in plain ONNX Runtime.
//
// Every tensor of the FP32 graph lives in the float domain (its own name), in the integer
// domain (uint8/int8 `<t>_quantized` with a scale and zero point), or both. Walking the graph
// in order:
//   - Conv -> QLinearConv when the QDQ model quantizes its input and weight: the weight
//     becomes an integer initializer (per channel on axis 0 where the platform's weights are
//     per channel), the bias int32 with scale x_scale * w_scale[c] and zero point 0;
//   - MatMul -> QLinearMatMul when the QDQ model quantizes both inputs (a constant B per
//     column where per channel); Gemm (transA = 0) with a quantized A and weight ->
//     QLinearMatMul on B (transposed first when transB = 1), alpha folded into B's scales,
//     and with a bias C: QLinearMatMul -> DequantizeLinear -> Add(beta * C) in float, the
//     product quantized over the Gemm output's range shifted by the bias' extremes;
//   - the output of such an op takes the QDQ model's parameters of that tensor when it has a
//     pair; otherwise, when its only consumer is a Relu or Clip, that node's output
//     parameters (and the Relu/Clip disappears when saturation at the range ends does its
//     clamping: asymmetric ranges starting at 0; with symmetric int8 it stays, in float);
//     otherwise the tensor's own activation range;
//   - but a Conv/MatMul/Gemm becomes an integer op only when the QDQ
//     model uses its output on that one grid everywhere (every consumer quantizes it so, or is
//     a Relu/Clip whose output is used so: a clamp commutes with the rounding; a graph output
//     only where the platform quantizes outputs). Where the QDQ model uses the output in float
//     (TensorRT's unquantized Mul of SiLU or Add after a Conv, a float graph output), the
//     integer op would round a value the QDQ model does not round, so the op stays float on
//     dequantized inputs as in the QDQ model (ONNX Runtime's own QDQ-to-QLinearConv fusion
//     likewise needs a QuantizeLinear after the op);
//   - MaxPool (one output), Reshape, Transpose and Flatten on an integer input (or an input
//     the QDQ model quantizes) run on the integers; their output keeps the input's
//     parameters (exact: they only move or select values);
//   - Concat runs on the integers when every input is integer or quantized in the QDQ model
//     and all share the same grid (equal ranges);
//   - everything else runs in float: between DequantizeLinear and QuantizeLinear, with the
//     same Q/DQ on its inputs (and dequantized weights) as in the QDQ model;
//   - graph outputs keep the QDQ model's names: dequantized, quantized first where the
//     platform quantizes the network output.
// ONNX Runtime's QLinearConv takes one weight zero point for all channels, so a Conv whose
// per-channel uint8 weights (asymmetric per-channel platforms: magicmind) have different zero
// points stays a float Conv on dequantized weights (as in the QDQ model). Where an integer op
// needs another 8-bit type than its input has (uint8 weights need uint8 activations in ONNX
// Runtime; the output type follows the input's), the equivalent parameters of that type are
// used (quant/qop_tensors.h as_type), which changes no value.
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
