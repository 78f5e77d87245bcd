// The searched weight ranges' gain correction put into the model (calib/weight_range_search.h,
// "Gain correction"; docs/calibration.md): each searched weight becomes its quantized values
// times its channels' gains, on ranges scaled by the same gains, so that the QDQ builder, the
// QOperator builder, bias correction, profiling and every back end's file quantize it to the
// codes the search chose, on the larger step. The FP32 weights are kept to be put back
// before a transform that needs them (BN update, equalization) and before each new search.
#pragma once
#include <map>
#include <string>

#include "calib/ranges.h"
#include "calib/tensor_cali.h"
#include "core/tensor.h"
#include "graph/onnx_graph.h"

namespace dpl::transform {

// The FP32 weights a gain correction replaced, by name.
using ReplacedWeights = std::map<std::string, Tensor>;

// Applies `gains` to the weights they name (and their `ranges`), on each weight's grid of
// `opts`; logs how many and the gains' span. Returns the FP32 weights it replaced.
ReplacedWeights apply_weight_gains(OnnxGraph& g, WeightRanges& ranges, const WeightGains& gains,
                                   const WeightRangeOptions& opts);

// Puts the FP32 weights back and empties `w`.
void restore_weights(OnnxGraph& g, ReplacedWeights& w);

}  // namespace dpl::transform
