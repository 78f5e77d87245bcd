// Gain-corrected weights into the model and back (see weight_gain.h).
#include "transform/weight_gain.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "calib/weight_range_search.h"
#include "graph/weight_axes.h"
#include "util/error.h"

namespace dpl::transform {

ReplacedWeights apply_weight_gains(OnnxGraph& g, WeightRanges& ranges, const WeightGains& gains,
                                   const WeightRangeOptions& opts) {
  ReplacedWeights fp;
  float lo = 1, hi = 1;
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    if (n.input_size() < 2) continue;
    const std::string& name = n.input(1);
    auto it = gains.find(name);
    if (it == gains.end() || fp.count(name)) continue;
    auto r = ranges.find(name);
    DPL_CHECK(r != ranges.end(), "weight '{}' has gains but no range", name);
    // Owned copies: a large initializer may be a view of the model's mapped file.
    const Tensor w = g.get_initializer(name).clone();
    Tensor q = w.clone();
    apply_weight_gain(q, weight_channel_axis(n, 1, w.rank()), opts.grid_of(name), r->second, it->second);
    g.set_initializer(name, q);
    fp.emplace(name, w);
    for (float x : it->second) lo = std::min(lo, x), hi = std::max(hi, x);
  }
  if (!fp.empty())
    spdlog::info("weight gain correction: {} weight(s) replaced by their quantized values, gains {:.4f} to {:.4f}",
                 fp.size(), lo, hi);
  return fp;
}

void restore_weights(OnnxGraph& g, ReplacedWeights& w) {
  for (const auto& [name, t] : w) g.set_initializer(name, t);
  w.clear();
}

}  // namespace dpl::transform
