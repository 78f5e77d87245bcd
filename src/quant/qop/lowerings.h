// The lowerings of the QOP model, one file each under quant/qop/, and the table that picks
// them by op type (docs/qop.md "What is in qop_model.onnx"). A lowering turns node `node` of
// the builder's graph into operators on integers and returns true; or it returns false and
// the node runs in float, as in the QDQ model (after b.not_converted() where a quantized node
// stays float for a reason worth logging).
#pragma once
#include <string>

#include "quant/qop/builder.h"

namespace dpl::qop {

using Lowering = bool (*)(QopBuilder& b, int node);

bool lower_qlinear_conv(QopBuilder& b, int node);        // Conv -> QLinearConv (qlinear_conv.cpp)
bool lower_qlinear_matmul(QopBuilder& b, int node);      // MatMul -> QLinearMatMul (qlinear_matmul.cpp)
bool lower_gemm_to_qlinear_matmul(QopBuilder& b, int node);  // Gemm -> QLinearMatMul [+ Add] (qlinear_matmul.cpp)
bool lower_integer_passthrough(QopBuilder& b, int node);  // MaxPool/Reshape/Transpose/Flatten (integer_passthrough.cpp)
bool lower_integer_concat(QopBuilder& b, int node);       // Concat on one grid (integer_concat.cpp)

// The lowering of an op type, or null (the node runs in float).
Lowering lowering_for(const std::string& op_type);

}  // namespace dpl::qop
