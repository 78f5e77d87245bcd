// Refuses, before anything runs, a model whose tensors would pass the per-tensor memory
// budget (core/memory_budget.h, --max_tensor_mb; docs/reliability.md, "Limits"): an
// initializer or attribute tensor declaring huge dims, or a node output whose inferred shape
// (a ConstantOfShape of 10^12 elements, a Resize to 10^6 x 10^6, an exploding
// Reshape/Expand/Tile) is too large. Unknown dimensions count as 1, so what is refused here is
// certain to be too large; shapes only known at run time are checked when the tensor is
// allocated, and the session names the node.
#pragma once
#include "graph/onnx_graph.h"

namespace dpl {

// Throws dpl::Error naming the first tensor over the budget (and its node).
void check_tensor_limits(const OnnxGraph& g);
// The constants only (initializers, attribute tensors): prepare_model runs it before the
// structural checks, so a huge declared tensor is named as over the budget, not as short of data.
void check_constant_limits(const OnnxGraph& g);

}  // namespace dpl
