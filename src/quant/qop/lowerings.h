// The lowerings of the QOP model, one file each under quant/qop/, and the table that picks
// them by op type (docs/qop.md "What is in qop_model.onnx"). A lowering turns node `n` (index
// `i` of the builder's graph) into operators on integers and returns true; or it returns
// false and the node runs in float, as in the QDQ model (after b.not_converted() where a
// quantized node stays float for a reason worth logging).
#pragma once
#include <string>

#include "quant/qop/builder.h"

namespace dpl::qop {

using Lowering = bool (*)(QopBuilder& b, int i, const onnx::NodeProto& n);

struct LoweringRule {
  Lowering lower;
  bool quantized_nodes_only;  // only for nodes the QDQ model quantizes (QdqModel::quant_nodes)
};

// Conv -> QLinearConv (qlinear_conv.cpp).
bool lower_qlinear_conv(QopBuilder& b, int i, const onnx::NodeProto& n);
// MatMul -> QLinearMatMul; Gemm -> QLinearMatMul [+ Add of the bias in float] (qlinear_matmul.cpp).
bool lower_qlinear_matmul(QopBuilder& b, int i, const onnx::NodeProto& n);
bool lower_gemm_to_qlinear_matmul(QopBuilder& b, int i, const onnx::NodeProto& n);
// MaxPool/Reshape/Transpose/Flatten on integers (integer_passthrough.cpp).
bool lower_integer_passthrough(QopBuilder& b, int i, const onnx::NodeProto& n);
// Concat of inputs on one grid (integer_concat.cpp).
bool lower_integer_concat(QopBuilder& b, int i, const onnx::NodeProto& n);

// The lowering of an op type, or null (the node runs in float).
const LoweringRule* lowering_for(const std::string& op_type);

}  // namespace dpl::qop
