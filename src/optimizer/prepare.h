// The tool's load sequence (docs/spec.md, "Loading a model"): Constant -> initializer, opset
// conversion to `target_opset` when lower (optimizer/opset_upgrade.h), unique node names,
// topological order, shape inference, then the simplifier (optimizer/simplifier.h) with
// default options when `simplify`. Tensors over the memory budget are refused before and
// after simplification (optimizer/tensor_limits.h). It lives above the runtime because
// constant folding runs the runtime's kernels.
#pragma once
#include "graph/onnx_graph.h"
#include "optimizer/simplifier.h"

namespace dpl {

void prepare_model(OnnxGraph& g, int target_opset = 13, bool simplify = true);
// Same, simplifying with `opts` (e.g. fixed shapes for symbolic input dimensions).
void prepare_model(OnnxGraph& g, const SimplifyOptions& opts, int target_opset = 13);

}  // namespace dpl
