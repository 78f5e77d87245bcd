// What ONNX's version converter and shape inference take for granted and crash without, on a
// model from outside (docs/fuzzing.md): required inputs present, input and output counts within
// the op schemas, a convolution weight of its input's rank, data (raw or typed) of its shape's size,
// declared dimensions within the tensor budget. prepare_model runs it once, before either
// sees the model; the graph edits after that are ours.
#pragma once
#include "graph/onnx_graph.h"

namespace dpl {

// Throws dpl::Error naming the node or tensor.
void check_model_structure(const OnnxGraph& g);

// The operand ranks of Gemm and convolutions again, after ONNX's inference has typed the
// intermediate tensors (value_info) and before its version converter reads them: the Gemm
// 6 -> 7 adapter read the dimensions of an A that only inference knew to be a scalar
// (SIGSEGV, fuzz_model).
void check_inferred_operand_ranks(const OnnxGraph& g);

}  // namespace dpl
