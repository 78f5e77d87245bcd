// Searched weight ranges (see weight_range_search.h).
#include "calib/weight_range_search.h"

#include <cmath>

#include "util/error.h"

namespace dpl {

WeightRangeAlgo parse_weight_range_algo(const std::string& name) {
  if (name == "minmax") return WeightRangeAlgo::MinMax;
  if (name == "mse") return WeightRangeAlgo::Mse;
  fail("unknown weight range algorithm '{}' (expected minmax or mse)", name);
}

void check_finite_weight(const std::string& name, const Tensor& w) {
  const float* d = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i)
    DPL_CHECK(std::isfinite(d[i]), "weight '{}' holds a NaN or infinite value (element {}): it cannot be quantized",
              name, i);
}

ChannelRanges searched_weight_ranges(const std::string& name, const Tensor& w, int axis, const TensorGrid& grid,
                                     calib::LpSearch search) {
  check_finite_weight(name, w);
  const ChannelRanges mm = channel_ranges(w, axis);
  search.bits = grid.bits;
  search.symmetric = grid.symmetric;
  const float* d = w.data<float>();
  if (!grid.per_channel || axis < 0) {
    // One clip for the tensor, each channel's min/max clamped to it.
    float lo = mm.lo[0], hi = mm.hi[0];
    for (size_t c = 1; c < mm.lo.size(); ++c) lo = std::min(lo, mm.lo[c]), hi = std::max(hi, mm.hi[c]);
    const auto clip = calib::search_lp_clip(d, w.numel(), lo, hi, search);
    ChannelRanges r = mm;
    for (size_t c = 0; c < r.lo.size(); ++c) {
      r.lo[c] = std::min(std::max(r.lo[c], clip.lo), clip.hi);
      r.hi[c] = std::max(std::min(r.hi[c], clip.hi), r.lo[c]);
    }
    return r;
  }
  // Each channel's values gathered (the channel axis need not be the first).
  int64_t outer = 1, inner = 1;
  const int64_t channels = w.dim(axis);
  for (int k = 0; k < axis; ++k) outer *= w.dim(k);
  for (int k = axis + 1; k < w.rank(); ++k) inner *= w.dim(k);
  std::vector<float> values(static_cast<size_t>(outer * inner));
  ChannelRanges r;
  r.lo.resize(channels);
  r.hi.resize(channels);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(d + (o * channels + c) * inner, inner, values.data() + o * inner);
    const auto clip =
        calib::search_lp_clip(values.data(), static_cast<int64_t>(values.size()), mm.lo[c], mm.hi[c], search);
    r.lo[c] = clip.lo;
    r.hi[c] = clip.hi;
  }
  return r;
}

}  // namespace dpl
