// Clip ranges, the product of tensor calibration (docs/spec.md 4) and the input of every later
// stage (QDQ building, profiling, deploy files).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dpl {

struct Range {
  float lo = 0.f, hi = 0.f;
};
// act_clip_val.json: {tensor: [min, max]}
using ActRanges = std::map<std::string, Range>;

// Per output channel (axis 0; ConvTranspose weights after swapping axes 0 and 1).
struct ChannelRanges {
  std::vector<float> lo, hi;
};
// weight_clip_val.json: {tensor: [[min per channel], [max per channel]]}
using WeightRanges = std::map<std::string, ChannelRanges>;

// Atomic writes; reads fail with a message naming the file and the bad entry.
void save_act_ranges(const std::string& path, const ActRanges& r);
void save_weight_ranges(const std::string& path, const WeightRanges& r);
ActRanges load_act_ranges(const std::string& path);
WeightRanges load_weight_ranges(const std::string& path);

// Per-channel [min, max] of a float tensor along `axis` (over all other axes); one channel
// over the whole tensor when axis is -1 (graph/weight_axes.h gives a weight's axis).
ChannelRanges channel_ranges(const Tensor& w, int axis);

}  // namespace dpl
