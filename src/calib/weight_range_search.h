// --w_range mse (docs/calibration.md): weight ranges chosen by the Lp search of
// calib/lp_search.h on the grid each weight is quantized to, instead of its min/max. Per
// channel when the grid is per channel; otherwise one clip for the whole tensor, written as
// each channel's min/max clamped to it (the file keeps its per-channel form, and the QDQ
// builder's reduction to one range gives back exactly the searched clip).
#pragma once
#include "calib/lp_search.h"
#include "calib/ranges.h"
#include "calib/tensor_cali.h"

namespace dpl {

WeightRangeAlgo parse_weight_range_algo(const std::string& name);  // "minmax" | "mse"

// Throws naming weight `name` when it holds a NaN or an infinite value.
void check_finite_weight(const std::string& name, const Tensor& w);

// Ranges of weight `w` along its channel `axis` (-1: one channel) for `grid`; `search` gives
// p and the candidate count (its bits and symmetry are taken from `grid`). Throws naming
// `name` when the weight holds a NaN or an infinite value.
ChannelRanges searched_weight_ranges(const std::string& name, const Tensor& w, int axis, const TensorGrid& grid,
                                     calib::LpSearch search = {});

}  // namespace dpl
