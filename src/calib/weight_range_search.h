// --w_range mse (docs/calibration.md): weight ranges chosen by the Lp search of
// calib/lp_search.h on the grid each weight is quantized to, instead of its min/max. Per
// channel when the grid is per channel; otherwise one clip for the whole tensor, written as
// each channel's min/max clamped to it (the file keeps its per-channel form, and the QDQ
// builder's reduction to one range gives back exactly the searched clip).
//
// --w_range output: the same candidates scored by the expected square of the error they add
// to the layer's output, from the per-channel mean and variance of the layer's input
// (calib/observer_moments.h): for an output channel whose weight errors are e_j, each
// multiplying input channel k(j), sum_j e_j^2 var_k(j) + (sum_j e_j mean_k(j))^2. Unlike the
// weights' own error, it sees that a clipped weight on an input with a nonzero mean shifts
// the output's mean (which rounding errors average out) and that weights on quiet inputs
// matter less.
//
// Gain correction (both searches, `gain` non-null; docs/calibration.md): a clip shrinks a
// channel's quantized weights toward zero, so its output is a scaled-down copy of the FP32
// one plus noise, and the shrink compounds through the layers that follow (a ReLU passes a
// scale on unchanged). Each candidate is therefore scored after rescaling its dequantized
// weights by xi = <w, w> / <w, Q(w)> (the inner product the method measures errors in: the
// plain one for mse, the input's second moments for output), which leaves an error
// uncorrelated with the weights, as a rounding error is; the chosen xi per channel goes to
// `gain`, and apply_weight_gain puts it into the weights and the range.
#pragma once
#include <onnx/onnx_pb.h>

#include <optional>

#include "calib/lp_search.h"
#include "calib/observer_moments.h"
#include "calib/ranges.h"
#include "calib/tensor_cali.h"

namespace dpl {

WeightRangeAlgo parse_weight_range_algo(const std::string& name);  // "minmax" | "mse" | "output"

// Throws naming weight `name` when it holds a NaN or an infinite value.
void check_finite_weight(const std::string& name, const Tensor& w);

// Ranges of weight `w` along its channel `axis` (-1: one channel) for `grid`; `search` gives
// p and the candidate count (its bits and symmetry are taken from `grid`). Throws naming
// `name` when the weight holds a NaN or an infinite value.
ChannelRanges searched_weight_ranges(const std::string& name, const Tensor& w, int axis, const TensorGrid& grid,
                                     calib::LpSearch search = {}, std::vector<float>* gain = nullptr);

// The channel axis of `node`'s data input (input 0) that its weight (input 1) reduces over:
// Conv and ConvTranspose 1, Gemm 1 (0 with transA), MatMul the last; none for other ops.
std::optional<int> layer_input_channel_axis(const onnx::NodeProto& node);

// For each element of `node`'s weight `w` (input 1), the channel of the data input it
// multiplies, the input having `in_channels` channels (Conv: its group's slice; ConvTranspose:
// axis 0; Gemm: B's reduced axis; MatMul: B's second-to-last axis). Empty when the shapes do
// not fit together.
std::vector<int32_t> weight_input_channels(const onnx::NodeProto& node, const Tensor& w, int64_t in_channels);

// --w_range output: the ranges of weight `w` (channels along `axis`, -1: one) on `grid`,
// each element j multiplying input channel input_channel[j] whose moments `in` holds.
ChannelRanges output_aware_weight_ranges(const std::string& name, const Tensor& w, int axis, const TensorGrid& grid,
                                         const std::vector<int32_t>& input_channel, const ChannelMoments& in,
                                         calib::LpSearch search = {}, std::vector<float>* gain = nullptr);
// Puts the gains of a search into weight `w` and its ranges `r`: each channel's weights
// become xi * Q(w) (Q: the channel's grid on `grid` before the gain) and its range xi times
// as wide, so that quantizing the new weights on the new range gives back Q's codes, on a
// step xi times as large. Every back end then quantizes them as the search meant.
void apply_weight_gain(Tensor& w, int axis, const TensorGrid& grid, ChannelRanges& r, const std::vector<float>& gain);

}  // namespace dpl
