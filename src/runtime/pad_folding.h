// Zero Pad -> Conv folding for inference sessions (SessionOptions::fuse): a Pad that adds
// zeros around the spatial dimensions of a Conv's input becomes part of the Conv's own
// padding. TensorFlow exports write 'same' padding of strided layers this way; the Pad copied
// the whole tensor, and, not taking channels-last tensors, made the session convert its input
// and output (docs/perf-notes.md, "Pad folded into Conv").
#pragma once
#include <vector>

#include "runtime/fusion.h"

namespace dpl {

// Removes from `nodes` every Pad that can be folded into the Conv reading its output: the
// Pad's output is read by that Conv alone, as its input X, and is not visible; the mode is
// constant with a constant value of 0; the pads are constants, zero on the batch and channel
// axes and non-negative on the others; the Conv has explicit (or VALID) padding. The Conv
// then reads the Pad's input, its 'pads' attribute is the sum, and NodeDesc::folded lists
// the Pad.
void fold_pads_into_convs(std::vector<PlanNode>& nodes, const PlanSlots& slots);

}  // namespace dpl
