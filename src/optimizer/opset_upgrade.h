// Opset conversion of a loaded model, part of the load sequence (optimizer/prepare.h).
#pragma once
#include "graph/onnx_graph.h"

namespace dpl {

// libonnx's version converter, made to work where it cannot alone: Softmax, LogSoftmax
// and Hardmax below opset 13 (which flatten their input at `axis`) are rewritten first as
// Flatten -> op -> Reshape(Shape(x)) when their axis is not provably the last one, imports
// of other domains are kept aside, Constant nodes the adapters create become
// initializers, Resize nodes that came from Upsample/Resize-10 keep their asymmetric,
// floor/ceil sampling (the adapter drops it), and the IR version is raised to the one the
// target opset came with.
void upgrade_opset(OnnxGraph& g, int target);

}  // namespace dpl
