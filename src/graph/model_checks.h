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

}  // namespace dpl
