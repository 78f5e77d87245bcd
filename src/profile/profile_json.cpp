#include "profile/profile_json.h"

#include <nlohmann/json.hpp>

#include "profile/console_report.h"

namespace dpl {

namespace {

using Json = nlohmann::ordered_json;

// Non-finite numbers (an exact layer's SQNR) become null.
Json num(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

Json error_json(const ErrorStats& s) {
  Json j;
  j["samples"] = s.samples();
  j["cos"] = num(s.mean_cosine());
  j["min_cos"] = num(s.min_cosine());
  j["sqnr_db"] = num(s.sqnr_db());
  j["rel_mse"] = num(s.rel_mse());
  return j;
}

Json shape_json(const std::optional<Shape>& s) {
  if (!s) return nullptr;
  Json j = Json::array();
  for (auto d : *s) j.push_back(d);
  return j;
}

}  // namespace

std::string layer_res_json(const ProfileResult& r) {
  Json j = Json::object();
  for (const auto& l : r.layers) j[l.tensor] = l.stats.mean_cosine();
  return j.dump(4);
}

std::string model_res_json(const ProfileResult& r) {
  Json j = Json::object();
  for (const auto& o : r.outputs) j[o.name] = {o.avg_cos(), o.min_cos()};
  return j.dump(4);
}

std::string profile_json(const ProfileReport& r) {
  const RunSettings& s = r.settings;
  Json j;
  j["settings"] = {{"model", s.model},
                   {"platform", s.platform},
                   {"act_quant", s.act_quant},
                   {"precision", s.precision},
                   {"output_dir", s.output_dir},
                   {"command_line", s.command_line},
                   {"version", s.version},
                   {"date", s.date},
                   {"samples", s.samples},
                   {"batch", s.batch},
                   {"threads", s.threads},
                   {"skip_layers", s.skip_layers},
                   {"per_layer", s.per_layer},
                   {"sensitivity", s.sensitivity},
                   {"sensitivity_samples", s.sensitivity_samples},
                   {"target_cos", s.target_cos}};
  Json layers = Json::array();
  for (const auto& l : r.profile.layers) {
    Json e = {{"node", l.node}, {"op_type", l.op_type}, {"tensor", l.tensor}};
    e.update(error_json(l.stats));
    layers.push_back(std::move(e));
  }
  j["layers"] = std::move(layers);
  if (!r.sparsity.empty()) {
    Json sp = Json::array();
    for (const auto& l : r.sparsity)
      sp.push_back({{"node", l.node},
                    {"weight", l.weight},
                    {"zeros", l.zeros},
                    {"total", l.total},
                    {"sparsity", l.total ? static_cast<double>(l.zeros) / static_cast<double>(l.total) : 0.0},
                    {"pruned", l.pruned}});
    j["sparsity"] = std::move(sp);
  }
  Json lowest = Json::array();
  for (const LayerProfile* l : lowest_layers(r.profile, 10)) lowest.push_back(l->node + "-" + l->tensor);
  j["lowest_layers"] = std::move(lowest);
  Json outs = Json::array();
  for (const auto& o : r.profile.outputs) {
    // avg_cos / min_cos as model_res.json (one stacked cosine for tolcos outputs).
    Json e = {{"name", o.name}, {"q_name", o.q_name}, {"tolcos", o.tolcos}, {"avg_cos", num(o.avg_cos())},
              {"min_cos", num(o.min_cos())}};
    Json err = error_json(o.stats);
    err.erase("cos");
    err.erase("min_cos");
    e.update(err);
    outs.push_back(std::move(e));
  }
  j["outputs"] = std::move(outs);
  Json ranges = Json::array();
  for (const auto& t : r.ranges)
    ranges.push_back({{"name", t.name},
                      {"shape", shape_json(t.shape)},
                      {"weight", t.weight},
                      {"per_channel", t.per_channel},
                      {"channels", t.channels},
                      {"bits", t.bits},
                      {"min", t.lo},
                      {"max", t.hi}});
  j["ranges"] = std::move(ranges);
  if (r.weights_per_channel) {
    j["per_tensor_weight_ratio"] = nullptr;
  } else {
    Json w = Json::array();
    for (const auto& p : r.per_tensor) w.push_back({{"node", p.node}, {"ratio", num(p.ratio)}});
    j["per_tensor_weight_ratio"] = std::move(w);
  }
  if (r.sensitivity) {
    const SensitivityResult& sr = *r.sensitivity;
    Json nodes = Json::array();
    for (const auto& n : sr.nodes)
      nodes.push_back({{"node", n.node},
                       {"op_type", n.op_type},
                       {"quantizes_inputs", n.quantizes_inputs},
                       {"cos", num(n.cos)},
                       {"sqnr_db", num(n.sqnr_db)}});
    const SkipSuggestion& g = sr.suggestion;
    std::vector<std::string> full = s.skip_layers;
    full.insert(full.end(), g.skip.begin(), g.skip.end());
    j["sensitivity"] = {{"samples", sr.samples},
                        {"nodes", std::move(nodes)},
                        {"suggestion",
                         {{"target_cos", g.target},
                          {"full_cos", num(g.full_cos)},
                          {"added_skip_layers", g.skip},
                          {"skip_layers", full},
                          {"cos", num(g.cos)},
                          {"reached", g.reached},
                          {"evaluations", g.evaluations}}},
                        {"seconds_single_layer", sr.seconds_single},
                        {"seconds_skip_list", sr.seconds_suggest}};
  } else {
    j["sensitivity"] = nullptr;
  }
  Json hists = Json::array();
  for (const auto& h : r.histograms)
    hists.push_back({{"node", h.node},
                     {"tensor", h.tensor},
                     {"range", {h.lo, h.hi}},
                     {"samples", h.samples},
                     {"fp", h.fp},
                     {"q", h.q}});
  j["histograms"] = std::move(hists);
  j["console"] = profile_report_lines(r);
  j["timing"] = {{"profile_seconds", r.profile.seconds},
                 {"profile_cpu_seconds", r.cpu_seconds},
                 {"stage_seconds", r.seconds}};
  return j.dump(2);
}

}  // namespace dpl
