// The Rockchip files (the original's deploy_rv.py), from the activation and weight ranges:
//  - rv_quantized_param.{yaml,json} (RV1126, RKNN-Toolkit 1 layout): "@<input>:out0",
//    "@<node>:out<k>", "@<node>:weight" (asymmetric_affine u8: max_value, min_value, scale,
//    zero_point) and "@<node>:bias" (i32, scale = weight step * input step);
//  - rk_quantized_param.{yaml,json} (RK3568, RKNN-Toolkit 2 layout): "<tensor>",
//    "<node>_W" ({"max": [..], "min": [..]}) and "<node>_b" (symmetric around the bias's
//    largest magnitude).
// Shared rules: every Concat input takes the Concat's output range (no requantization in the
// Concat; chains of Concats pass the last one's range all the way back); a node whose first
// output feeds exactly one node, a Sigmoid, is left out (the back end uses its own range for
// a Sigmoid input); a Relu is merged into its producer (the producer's output entry becomes
// the Relu's). Ranges are widened to hold 0; step = (hi - lo) / 255 (1/255 when 0), zero
// point = round(-lo / step), 255 being 2^bits - 1 of the tensor's bits (the precision plan's).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "deploy/backends.h"
#include "deploy/deploy_common.h"
#include "graph/weight_axes.h"
#include "quant/quant_param.h"

namespace dpl::deploy {

namespace {

// The grid of a range at `bits` bits; a zero-width range gets the step of [0, 1].
AsymmetricGrid step_of(const Range& r, int bits) {
  return asymmetric_grid(r, bits, 1.0 / unsigned_max_code(bits));
}

// Ranges as the Rockchip files see them: the Concat rule applied.
class RvRanges {
 public:
  RvRanges(const DeployInput& in, const std::string& file) : table_(in, file) {
    const auto& nodes = in.graph.graph().node();
    // Backwards, so that a Concat feeding a later Concat already holds its final range, and a
    // tensor feeding several Concats keeps the last one's (the original's forward overwrite).
    for (int i = nodes.size() - 1; i >= 0; --i) {
      const auto& n = nodes[i];
      if (n.op_type() != "Concat" || n.output_size() == 0) continue;
      std::optional<Range> out = get(n.output(0), "output of node '" + n.name() + "'");
      if (!out) continue;
      for (const auto& t : n.input())
        if (!t.empty() && !concat_.count(t)) concat_[t] = *out;
    }
  }
  // nullopt for tensors left out (not float32).
  std::optional<Range> get(const std::string& t, const std::string& why) const {
    if (auto it = concat_.find(t); it != concat_.end()) return it->second;
    auto r = table_.get(t, why);
    if (!r) return std::nullopt;
    return Range{static_cast<float>(min_of(*r)), static_cast<float>(max_of(*r))};
  }
  Range need(const std::string& t, const std::string& why) const {
    if (auto it = concat_.find(t); it != concat_.end()) return it->second;
    return table_.need_tensor(t, why);
  }

 private:
  RangeTable table_;
  std::map<std::string, Range> concat_;
};

// The first output feeds exactly one node, and that is a Sigmoid.
bool feeds_only_sigmoid(const OnnxGraph& g, const onnx::NodeProto& n) {
  if (n.output_size() == 0) return false;
  const auto& c = g.consumers(n.output(0));
  return c.size() == 1 && g.node(c[0]).op_type() == "Sigmoid";
}

Json rv1126_entry(const Range& r, int bits) {
  Json e = Json::object();
  e["dtype"] = "asymmetric_affine";
  e["method"] = "layer";
  e["max_value"] = Json::array({std::max(0.0, static_cast<double>(r.hi))});
  e["min_value"] = Json::array({std::min(0.0, static_cast<double>(r.lo))});
  e["qtype"] = "u8";
  const AsymmetricGrid s = step_of(r, bits);
  e["scale"] = Json::array({s.scale});
  e["zero_point"] = Json::array({s.zero_point});
  return e;
}

Json rk3568_entry(double lo, double hi) {
  Json e = Json::object();
  e["max"] = Json::array({hi});
  e["min"] = Json::array({lo});
  return e;
}

// Weighted nodes with inputs beyond weight and bias (BatchNormalization's mean and variance):
// the original prints one line per input; one warning for the model.
void warn_extra_inputs(const OnnxGraph& g) {
  int count = 0;
  const onnx::NodeProto* first = nullptr;
  for (const auto& n : g.graph().node())
    if (op_has_weight(n.op_type()) && n.input_size() > 3 && count++ == 0) first = &n;
  if (first)
    spdlog::warn("rv: {} weighted node(s) have inputs beyond weight and bias (e.g. '{}', {}); only weight and bias "
                 "are written for them",
                 count, first->name(), first->op_type());
}

Json rv1126(const DeployInput& in, const std::string& file) {
  const OnnxGraph& g = in.graph;
  RvRanges ranges(in, file);
  Json q = Json::object();
  for (const auto& t : g.network_inputs())
    if (auto r = ranges.get(t, "a graph input")) q["@" + t + ":out0"] = rv1126_entry(*r, act_bits(in, t));
  for (const auto& n : g.graph().node()) {
    if (feeds_only_sigmoid(g, n)) continue;
    if (op_has_weight(n.op_type())) {
      if (!input_or_empty(n, 1).empty())
        q["@" + n.name() + ":weight"] =
            rv1126_entry(ranges.need(n.input(1), "weight of node '" + n.name() + "'"), weight_bits(in, n.input(1)));
      if (!input_or_empty(n, 2).empty()) {
        const double act_step = step_of(ranges.need(n.input(0), "input of node '" + n.name() + "'"), act_bits(in, n.input(0))).scale;
        const double w_step = step_of(ranges.need(n.input(1), "weight of node '" + n.name() + "'"), weight_bits(in, n.input(1))).scale;
        Json e = Json::object();
        e["dtype"] = "asymmetric_affine";
        e["method"] = "layer";
        e["max_value"] = Json::array();
        e["min_value"] = Json::array();
        e["zero_point"] = Json::array({0});
        e["scale"] = Json::array({w_step * act_step});
        e["qtype"] = "i32";
        q["@" + n.name() + ":bias"] = std::move(e);
      }
    }
    std::string last_key;
    for (int k = 0; k < n.output_size(); ++k) {
      auto r = ranges.get(n.output(k), "output of node '" + n.name() + "'");
      if (!r) continue;
      last_key = "@" + n.name() + ":out" + std::to_string(k);
      q[last_key] = rv1126_entry(*r, act_bits(in, n.output(k)));
    }
    // Relu merge: the producer's entry for this Relu's input becomes the Relu's.
    if (n.op_type() == "Relu" && !last_key.empty() && n.input_size() > 0) {
      const int p = g.producer(n.input(0));
      std::string prev_key = "@" + n.input(0) + ":out0";
      if (p >= 0) {
        const auto& prev = g.node(p);
        for (int k = 0; k < prev.output_size(); ++k)
          if (prev.output(k) == n.input(0)) prev_key = "@" + prev.name() + ":out" + std::to_string(k);
      }
      if (q.contains(prev_key)) q[prev_key] = q[last_key];
    }
  }
  Json j = Json::object();
  j["customized_quantize_layers"] = Json::object();
  j["quantize_parameters"] = std::move(q);
  return j;
}

Json rk3568(const DeployInput& in, const std::string& file) {
  const OnnxGraph& g = in.graph;
  RvRanges ranges(in, file);
  Json q = Json::object();
  auto entry = [](const Range& r) {
    return rk3568_entry(std::min(0.0, static_cast<double>(r.lo)), std::max(0.0, static_cast<double>(r.hi)));
  };
  for (const auto& t : g.network_inputs())
    if (auto r = ranges.get(t, "a graph input")) q[t] = entry(*r);
  for (const auto& n : g.graph().node()) {
    if (feeds_only_sigmoid(g, n)) continue;
    if (op_has_weight(n.op_type())) {
      if (!input_or_empty(n, 1).empty())
        q[n.name() + "_W"] = entry(ranges.need(n.input(1), "weight of node '" + n.name() + "'"));
      if (!input_or_empty(n, 2).empty()) {
        const Range b = ranges.need(n.input(2), "bias of node '" + n.name() + "'");  // min, max of its values
        const double m = std::max(std::fabs(static_cast<double>(b.hi)), std::fabs(static_cast<double>(b.lo)));
        q[n.name() + "_b"] = rk3568_entry(-m, m);
      }
    }
    std::string last_key;
    for (const auto& t : n.output()) {
      auto r = ranges.get(t, "output of node '" + n.name() + "'");
      if (!r) continue;
      last_key = t;
      q[t] = entry(*r);
    }
    if (n.op_type() == "Relu" && !last_key.empty() && n.input_size() > 0) q[n.input(0)] = q[last_key];
  }
  Json j = Json::object();
  j["custom_quantize_layers"] = Json::object();
  j["quantize_parameters"] = std::move(q);
  return j;
}

}  // namespace

std::vector<DeployFile> rv_files(const DeployInput& in) {
  warn_extra_inputs(in.graph);
  const Json rv = rv1126(in, "rv_quantized_param.json");
  const Json rk = rk3568(in, "rk_quantized_param.json");
  return {{"rv_quantized_param.yaml", yaml_text(rv, "rv_quantized_param.yaml")},
          {"rv_quantized_param.json", json_text(rv, "rv_quantized_param.json")},
          {"rk_quantized_param.yaml", yaml_text(rk, "rk_quantized_param.yaml")},
          {"rk_quantized_param.json", json_text(rk, "rk_quantized_param.json")}};
}

}  // namespace dpl::deploy
