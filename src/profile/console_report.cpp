#include "profile/console_report.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace dpl {

namespace {

// SQNR and relative MSE, the figures this tool adds next to each cosine.
std::string error_figures(const ErrorStats& s, const char* sep) {
  return fmt::format("    SQNR{}{:.2f} dB    relMSE{}{:.3e}", sep, s.sqnr_db(), sep, s.rel_mse());
}

}  // namespace

std::string python_shape(const std::optional<Shape>& s) {
  if (!s) return "None";
  std::string r = "[";
  for (size_t i = 0; i < s->size(); ++i) r += (i ? ", " : "") + std::to_string((*s)[i]);
  return r + "]";
}

std::vector<std::string> profile_report_lines(const ProfileReport& r) {
  std::vector<std::string> out;
  const ProfileResult& p = r.profile;
  if (r.settings.per_layer) {
    std::string node;
    for (const auto& l : p.layers) {
      if (l.node != node) out.push_back(l.node);
      node = l.node;
      out.push_back(fmt::format("Layer  cos: {:.5f}{}", l.stats.mean_cosine(), error_figures(l.stats, ": ")));
    }
    out.push_back("The smallest cos value of 10 layers: ");
    for (const LayerProfile* l : lowest_layers(p, 10))
      out.push_back(fmt::format("{:40} cos : {:<.5f}{}", l->node + "-" + l->tensor, l->stats.mean_cosine(),
                                error_figures(l->stats, " : ")));
  }
  out.push_back("Quant model output cos: ");
  for (const auto& o : p.outputs) {
    if (o.tolcos)
      out.push_back(fmt::format("{:40} tolcos : {:<.5f}{}", o.name, o.avg_cos(), error_figures(o.stats, " : ")));
    else
      out.push_back(fmt::format("{:40} avgcos : {:<.5f}    mincos : {:<.5f}{}", o.name, o.avg_cos(), o.min_cos(),
                                error_figures(o.stats, " : ")));
  }
  out.push_back("Model ranges:");
  for (const auto& t : r.ranges)
    out.push_back(fmt::format("{:<30} Shape: {:<20} Range: {}[{:<10f} {:<10f}]{}", t.name, python_shape(t.shape),
                              t.per_channel ? "per channel " : "", t.lo, t.hi,
                              t.bits > 0 && t.bits < 8 ? fmt::format(" {} bits", t.bits) : ""));
  if (!r.weights_per_channel) {
    out.push_back("Layer degradate by per layer: ");
    for (const auto& w : r.per_tensor) out.push_back(fmt::format("{:40} ratio : {:<.5f}", w.node, w.ratio));
  }
  if (r.sensitivity) {
    const SensitivityResult& s = *r.sensitivity;
    std::vector<const NodeSensitivity*> v;
    for (const auto& n : s.nodes) v.push_back(&n);
    std::stable_sort(v.begin(), v.end(),
                     [](const NodeSensitivity* a, const NodeSensitivity* b) { return a->cos < b->cos; });
    out.push_back(fmt::format(
        "Single-layer sensitivity (network output cos with only this node quantized, {} samples), lowest 10: ",
        s.samples));
    for (size_t i = 0; i < v.size() && i < 10; ++i)
      out.push_back(fmt::format("{:40} cos : {:<.5f}    SQNR : {:.2f} dB", v[i]->node, v[i]->cos, v[i]->sqnr_db));
    const SkipSuggestion& g = s.suggestion;
    std::string list;
    for (const auto& n : r.settings.skip_layers) list += " " + n;
    for (const auto& n : g.skip) list += " " + n;
    if (g.skip.empty() && g.reached)
      out.push_back(fmt::format("Output cos {:.5f} already reaches --target_cos {}: no layer to skip", g.full_cos,
                                g.target));
    else if (g.reached)
      out.push_back(fmt::format("Suggested --skip_layers for output cos >= {} ({} more layer(s); cos {:.5f} -> {:.5f} "
                                "on {} samples):{}",
                                g.target, g.skip.size(), g.full_cos, g.cos, s.samples, list));
    else
      out.push_back(fmt::format("--target_cos {} is out of reach: with every quantized node skipped the output cos is "
                                "{:.5f} (network outputs are quantized on this platform)",
                                g.target, g.cos));
  }
  return out;
}

void log_profile_report(const ProfileReport& r) {
  for (const auto& l : profile_report_lines(r)) spdlog::info("{}", l);
}

}  // namespace dpl
