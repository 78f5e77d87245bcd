#include "transform/weight_equalization.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "transform/channel_stats.h"
#include "transform/graph_edit.h"
#include "util/error.h"

namespace dpl::transform {

namespace {

bool is_conv_with_weight(const OnnxGraph& g, const onnx::NodeProto& n) {
  if (n.op_type() != "Conv") return false;
  const Tensor w = float_init(g, n, 1);
  return w.defined() && w.rank() >= 3;
}

// The one Conv that reads `tensor` as its data input, or -1.
int sole_conv_reader(const OnnxGraph& g, const std::string& tensor) {
  if (!single_consumer(g, tensor)) return -1;
  const int c = g.consumers(tensor).front();
  const auto& n = g.node(c);
  return n.op_type() == "Conv" && n.input(0) == tensor ? c : -1;
}

// Why a found pair cannot be equalized, or nothing.
std::optional<std::string> check_pair(const OnnxGraph& g, int a, int b, int act) {
  const auto& n1 = g.node(a);
  const auto& n2 = g.node(b);
  if (!is_conv_with_weight(g, n2)) return "the second Conv's weight is not a float initializer";
  const Tensor w1 = float_init(g, n1, 1), w2 = float_init(g, n2, 1);
  if (w2.dim(1) == 0 || w1.dim(0) % w2.dim(1) != 0 || attr_int(n2, "group", 1) != w1.dim(0) / w2.dim(1) ||
      w2.dim(0) % (w1.dim(0) / w2.dim(1)) != 0)
    return "their channel counts do not match";
  if (n1.input_size() > 2 && !n1.input(2).empty()) {
    const Tensor b1 = float_init(g, n1, 2);
    if (!b1.defined() || b1.numel() != w1.dim(0)) return "the first Conv's bias is not a float initializer";
  }
  if (act >= 0 && g.node(act).op_type() == "Clip")
    for (int k = 1; k < std::min(3, g.node(act).input_size()); ++k) {
      const std::string& t = g.node(act).input(k);
      if (!t.empty() && !g.is_initializer(t)) return "the Clip bounds are not initializers";
    }
  return std::nullopt;
}

struct FoundPair {
  int first, second, act;
};

std::vector<FoundPair> find_pairs(const OnnxGraph& g, bool with_clip, std::vector<std::string>* skipped) {
  std::vector<FoundPair> r;
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    if (!is_conv_with_weight(g, n) || n.output_size() < 1) continue;
    const std::string& out = n.output(0);
    if (!single_consumer(g, out)) continue;
    const int c = g.consumers(out).front();
    const std::string& op = g.node(c).op_type();
    int second = -1, act = -1;
    if (op == "Conv") {
      second = sole_conv_reader(g, out);
    } else if ((op == "Relu" || op == "PRelu" || (with_clip && op == "Clip")) && g.node(c).input(0) == out &&
               g.node(c).output_size() >= 1) {
      act = c;
      second = sole_conv_reader(g, g.node(c).output(0));
    }
    if (second < 0) continue;
    if (auto why = check_pair(g, i, second, act)) {
      if (skipped) skipped->push_back(n.name() + " -> " + g.node(second).name() + ": " + *why);
      continue;
    }
    r.push_back({i, second, act});
  }
  return r;
}

double max_abs(const float* p, int64_t n, int64_t stride = 1) {
  double m = 0;
  for (int64_t k = 0; k < n; ++k) m = std::max(m, static_cast<double>(std::fabs(p[k * stride])));
  return m;
}

// One application of the rule to a pair. Returns the L2 change of both weights, or nullopt
// (nothing changed) when a Clip pair's factors are not all equal.
std::optional<double> equalize_pair(OnnxGraph& g, const FoundPair& p) {
  const auto& n1 = g.node(p.first);
  const auto& n2 = g.node(p.second);
  Tensor w1 = float_init(g, n1, 1).clone(), w2 = float_init(g, n2, 1).clone();
  const bool has_b1 = n1.input_size() > 2 && !n1.input(2).empty();
  Tensor b1 = has_b1 ? float_init(g, n1, 2).clone() : Tensor();
  const int64_t c1 = w1.dim(0), per1 = w1.numel() / c1;
  const int64_t c2 = w2.dim(0), cin_g = w2.dim(1), spatial2 = w2.numel() / (c2 * cin_g);
  const int64_t groups = c1 / cin_g, cout_g = c2 / groups;
  float* d1 = w1.data<float>();
  float* d2 = w2.data<float>();
  std::vector<double> s(c1, 1.0);
  for (int64_t gi = 0; gi < groups; ++gi)
    for (int64_t ii = 0; ii < cin_g; ++ii) {
      const int64_t ch = gi * cin_g + ii;
      double r1 = max_abs(d1 + ch * per1, per1);
      double r2 = 0;
      for (int64_t o = gi * cout_g; o < (gi + 1) * cout_g; ++o)
        r2 = std::max(r2, max_abs(d2 + (o * cin_g + ii) * spatial2, spatial2));
      if (r1 < 1e-6) r1 = 0;
      if (r2 < 1e-6) r2 = 0;
      const double f = r1 / std::sqrt(r1 * r2);
      s[ch] = std::isfinite(f) ? f : 1.0;
    }
  const bool clip = p.act >= 0 && g.node(p.act).op_type() == "Clip";
  if (clip) {
    const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
    if (*hi - *lo > 1e-6 * *hi) return std::nullopt;
  }
  double change1 = 0, change2 = 0;
  for (int64_t ch = 0; ch < c1; ++ch)
    for (int64_t k = 0; k < per1; ++k) {
      float& v = d1[ch * per1 + k];
      const float nv = static_cast<float>(v / s[ch]);
      change1 += (nv - v) * static_cast<double>(nv - v);
      v = nv;
    }
  for (int64_t o = 0; o < c2; ++o) {
    const int64_t gi = o / cout_g;
    for (int64_t ii = 0; ii < cin_g; ++ii)
      for (int64_t k = 0; k < spatial2; ++k) {
        float& v = d2[(o * cin_g + ii) * spatial2 + k];
        const float nv = static_cast<float>(v * s[gi * cin_g + ii]);
        change2 += (nv - v) * static_cast<double>(nv - v);
        v = nv;
      }
  }
  set_node_input_value(g, p.first, 1, w1, "weight");
  set_node_input_value(g, p.second, 1, w2, "weight");
  if (has_b1) {
    float* b = b1.data<float>();
    for (int64_t ch = 0; ch < c1; ++ch) b[ch] = static_cast<float>(b[ch] / s[ch]);
    set_node_input_value(g, p.first, 2, b1, "bias");
  }
  if (clip) {
    const double f = s[0];
    for (int k = 1; k < std::min(3, g.node(p.act).input_size()); ++k) {
      if (g.node(p.act).input(k).empty()) continue;
      Tensor t = g.get_initializer(g.node(p.act).input(k)).clone();
      DPL_CHECK(t.dtype() == DType::F32, "Clip {} bound is not float", g.node(p.act).name());
      for (int64_t e = 0; e < t.numel(); ++e) t.data<float>()[e] = static_cast<float>(t.data<float>()[e] / f);
      set_node_input_value(g, p.act, k, t, k == 1 ? "min" : "max");
    }
  }
  return std::sqrt(change1) + std::sqrt(change2);
}

EqualizationPair named(const OnnxGraph& g, const FoundPair& p) {
  EqualizationPair e{g.node(p.first).name(), g.node(p.second).name(), "", ""};
  if (p.act >= 0) {
    e.act = g.node(p.act).name();
    e.act_type = g.node(p.act).op_type();
  }
  return e;
}

// Whether Conv `n` pads its input anywhere.
bool pads_input(const onnx::NodeProto& n, const Tensor& w) {
  for (const auto& a : n.attribute())
    if (a.name() == "auto_pad" && (a.s() == "SAME_UPPER" || a.s() == "SAME_LOWER")) {
      for (int d = 2; d < w.rank(); ++d)
        if (w.dim(d) != 1) return true;
      return false;
    }
  for (auto p : attr_ints(n, "pads"))
    if (p != 0) return true;
  return false;
}

}  // namespace

std::vector<EqualizationPair> equalization_pairs(const OnnxGraph& g, bool with_clip) {
  std::vector<EqualizationPair> r;
  for (const auto& p : find_pairs(g, with_clip, nullptr)) r.push_back(named(g, p));
  return r;
}

EqualizeResult equalize_weights(OnnxGraph& g, const EqualizeOptions& opts) {
  EqualizeResult r;
  const auto pairs = find_pairs(g, true, &r.skipped);
  std::set<size_t> applied;  // pairs changed in some sweep (a Clip pair only when its factors were equal)
  for (r.sweeps = 1; r.sweeps <= opts.max_sweeps && !pairs.empty(); ++r.sweeps) {
    double change = 0;
    for (size_t k = 0; k < pairs.size(); ++k) {
      if (auto c = equalize_pair(g, pairs[k])) {
        change += *c;
        applied.insert(k);
      }
    }
    r.last_change = change;
    spdlog::debug("weight equalization: sweep {}: change {:.3g}", r.sweeps, change);
    if (change < opts.threshold) {
      r.converged = true;
      break;
    }
  }
  r.sweeps = pairs.empty() ? 0 : std::min(r.sweeps, opts.max_sweeps);
  for (size_t k = 0; k < pairs.size(); ++k) {
    if (!applied.count(k)) {
      r.skipped.push_back(g.node(pairs[k].first).name() + " -> " + g.node(pairs[k].second).name() +
                          ": the factors through Clip " + g.node(pairs[k].act).name() +
                          " differ per channel, and one Clip cannot hold per-channel bounds");
      continue;
    }
    r.equalized.push_back(named(g, pairs[k]));
  }
  for (const auto& e : r.equalized)
    spdlog::info("weight equalization: {} -> {}{}", e.first, e.second, e.act.empty() ? "" : " through " + e.act_type);
  for (const auto& s : r.skipped) spdlog::info("weight equalization: skipped {}", s);
  if (pairs.empty())
    spdlog::warn("weight equalization: the model has no Conv -> (Relu|PRelu|Clip) -> Conv pair");
  else if (r.converged)
    spdlog::info("weight equalization: {} pair(s), converged after {} sweep(s) (last change {:.3g})",
                 r.equalized.size(), r.sweeps, r.last_change);
  else
    spdlog::warn("weight equalization: {} pair(s), not converged after {} sweeps (last change {:.3g})",
                 r.equalized.size(), r.sweeps, r.last_change);
  return r;
}

AbsorbResult absorb_high_bias(OnnxGraph& g, const std::vector<EqualizationPair>& pairs, SampleSource& data,
                              const TransformRunOptions& run) {
  AbsorbResult r;
  std::vector<EqualizationPair> todo;
  for (const auto& p : pairs) {
    if (p.act_type != "Relu") continue;
    const auto& n2 = g.node(g.node_index(p.second));
    if (pads_input(n2, float_init(g, n2, 1))) {
      spdlog::info("high-bias absorption: skipped {} -> {}: {} pads its input", p.first, p.second, p.second);
      continue;
    }
    todo.push_back(p);
  }
  if (todo.empty()) {
    spdlog::info("high-bias absorption: no Conv -> Relu -> Conv pair without padding");
    return r;
  }
  std::vector<std::string> outs;
  for (const auto& p : todo) outs.push_back(g.node(g.node_index(p.first)).output(0));
  StatsRunOptions so;
  so.threads = run.threads;
  so.batch = run.batch;
  so.stage = "high-bias absorption (FP32 minima)";
  so.comm = run.comm;
  ChannelStatsObserver obs = channel_stats_streamed(g, outs, data, so);
  double shift_sum = 0;
  for (size_t k = 0; k < todo.size(); ++k) {
    const int a = g.node_index(todo[k].first), b = g.node_index(todo[k].second);
    const std::vector<float>& mins = obs.stats(outs[k]).min;
    std::vector<double> c(mins.size());
    int positive = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      c[i] = std::max(0.0, static_cast<double>(mins[i]));
      positive += c[i] > 0;
      shift_sum += c[i];
    }
    if (positive == 0) continue;
    const Tensor w2 = float_init(g, g.node(b), 1);
    const int64_t c2 = w2.dim(0), cin_g = w2.dim(1), spatial = w2.numel() / (c2 * cin_g);
    const int64_t cout_g = c2 / (static_cast<int64_t>(c.size()) / cin_g);
    const float* d2 = w2.data<float>();
    const Tensor b1t = float_init(g, g.node(a), 2);
    std::vector<float> b1 = b1t.defined() ? b1t.to_f32_vector() : std::vector<float>(c.size(), 0.f);
    const Tensor b2t = float_init(g, g.node(b), 2);
    std::vector<float> b2 = b2t.defined() ? b2t.to_f32_vector() : std::vector<float>(c2, 0.f);
    for (size_t i = 0; i < c.size(); ++i) b1[i] = static_cast<float>(b1[i] - c[i]);
    for (int64_t o = 0; o < c2; ++o) {
      const int64_t gi = o / cout_g;
      double add = 0;
      for (int64_t ii = 0; ii < cin_g; ++ii)
        for (int64_t s = 0; s < spatial; ++s) add += d2[(o * cin_g + ii) * spatial + s] * c[gi * cin_g + ii];
      b2[o] = static_cast<float>(b2[o] + add);
    }
    set_node_input_value(g, a, 2, Tensor::from_vector<float>({static_cast<int64_t>(b1.size())}, b1), "bias");
    set_node_input_value(g, b, 2, Tensor::from_vector<float>({c2}, b2), "bias");
    r.pairs.push_back(todo[k].first + " -> " + todo[k].second);
    r.channels += positive;
  }
  if (r.channels > 0) r.mean_shift = shift_sum / r.channels;
  spdlog::info("high-bias absorption: {} pair(s), {} channel(s) shifted, mean shift {:.3g}", r.pairs.size(), r.channels,
               r.mean_shift);
  return r;
}

}  // namespace dpl::transform
