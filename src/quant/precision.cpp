// The precision plan's rules and their application to a graph (quant/precision.h).
#include "quant/precision.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace dpl {

namespace {

void apply(PrecisionPlan::NodeRule& r, const QuantOverride& o) {
  if (o.w_bits) r.w_bits = o.w_bits;
  if (o.a_bits) r.a_bits = o.a_bits;
  if (o.skip) r.skip = o.skip;
  if (o.symmetric) r.symmetric = o.symmetric;
  if (o.per_channel) r.per_channel = o.per_channel;
}

void set_symmetric(QuantSpec& s, bool symmetric) {
  s.symmetric = symmetric;
  s.dynamic_sym = false;  // an explicit choice replaces the platform's "symmetric unless from 0"
}

void check_bits(int bits, const char* flag) {
  DPL_CHECK(bits == 0 || (bits >= 2 && bits <= 8), "{} must be from 2 to 8, got {}", flag, bits);
}

// Weighted nodes (those with a weight site) that no other weighted node precedes (first) or
// follows (last), through any path of the graph.
std::vector<char> first_and_last(const OnnxGraph& g, const std::vector<QdqSite>& sites) {
  const int n = g.node_count();
  std::vector<char> weighted(n, 0), before(n, 0), after(n, 0);
  for (const auto& s : sites)
    if (s.weight) weighted[s.node] = 1;
  for (int i = 0; i < n; ++i)  // topological order: producers come first
    for (const auto& t : g.node(i).input()) {
      const int p = t.empty() ? -1 : g.producer(t);
      if (p >= 0 && (weighted[p] || before[p])) before[i] = 1;
    }
  for (int i = n - 1; i >= 0; --i)
    for (const auto& t : g.node(i).output())
      for (int c : g.consumers(t))
        if (weighted[c] || after[c]) after[i] = 1;
  std::vector<char> keep(n, 0);
  for (int i = 0; i < n; ++i) keep[i] = weighted[i] && (!before[i] || !after[i]);
  return keep;
}

}  // namespace

PrecisionPlan::PrecisionPlan(const Platform& platform, PrecisionOptions opts)
    : opts_(std::move(opts)), weight_(platform.weight), act_(platform.act) {
  check_bits(opts_.w_bits, "--w_bits");
  check_bits(opts_.a_bits, "--a_bits");
  if (opts_.w_bits) weight_.bits = opts_.w_bits;
  if (opts_.a_bits) act_.bits = opts_.a_bits;
}

PrecisionPlan::NodeRule PrecisionPlan::node_rule(const onnx::NodeProto& n) const {
  NodeRule r;
  const QuantConfig& c = opts_.config;
  for (const auto& e : c.op_types)
    if (e.key == n.op_type()) apply(r, e.set);
  for (const auto& e : c.patterns)
    if (glob_match(e.key, n.name())) apply(r, e.set);
  for (const auto& e : c.nodes)
    if (e.key == n.name()) apply(r, e.set);
  return r;
}

const QuantOverride* PrecisionPlan::tensor_rule(const std::string& t) const {
  for (const auto& e : opts_.config.tensors)
    if (e.key == t) return &e.set;
  return nullptr;
}

std::map<std::string, Range> PrecisionPlan::fixed_ranges() const {
  std::map<std::string, Range> r;
  for (const auto& e : opts_.config.tensors)
    if (e.set.range) r[e.key] = *e.set.range;
  return r;
}

bool PrecisionPlan::changes_anything() const { return opts_.w_bits || opts_.a_bits || opts_.first_last_8bit ||
                                                      !opts_.config.empty(); }

std::vector<std::string> PrecisionPlan::unmatched(const OnnxGraph& g) const {
  std::vector<std::string> w;
  const QuantConfig& c = opts_.config;
  auto any_node = [&](auto&& pred) {
    for (const auto& n : g.graph().node())
      if (pred(n)) return true;
    return false;
  };
  auto warn = [&](const QuantConfigEntry& e, const char* section, const std::string& why) {
    w.push_back(fmt::format("--quant_config {}:{}: {} '{}' {}: this entry changes nothing", c.file, e.line, section,
                            e.key, why));
  };
  for (const auto& e : c.op_types)
    if (!any_node([&](const onnx::NodeProto& n) { return n.op_type() == e.key; }))
      warn(e, "op_types", "matches no node of the model");
  for (const auto& e : c.patterns)
    if (!any_node([&](const onnx::NodeProto& n) { return glob_match(e.key, n.name()); }))
      warn(e, "patterns", "matches no node name of the model");
  for (const auto& e : c.nodes)
    if (!g.has_node(e.key)) warn(e, "nodes", "is not a node of the model");
  for (const auto& e : c.tensors) {
    const bool known = g.is_initializer(e.key) || g.is_network_input(e.key) || g.producer(e.key) >= 0;
    if (!known) warn(e, "tensors", "is not a tensor of the model");
    else if (e.set.range && g.is_initializer(e.key))
      w.push_back(fmt::format("--quant_config {}:{}: tensors '{}': range fixes activation ranges; '{}' is a weight, "
                              "its range is ignored",
                              c.file, e.line, e.key, e.key));
  }
  return w;
}

const QuantSpec& TensorPrecisions::weight(const std::string& t) const {
  auto it = weights.find(t);
  return it == weights.end() ? weight_default : it->second;
}

const QuantSpec& TensorPrecisions::act(const std::string& t) const {
  auto it = acts.find(t);
  return it == acts.end() ? act_default : it->second;
}

std::string TensorPrecisions::summary() const {
  auto counts = [](const std::map<std::string, QuantSpec>& m) {
    std::map<int, int, std::greater<int>> by_bits;
    for (const auto& [t, s] : m) ++by_bits[s.bits];
    std::string r;
    for (const auto& [b, k] : by_bits) r += fmt::format("{}{} bits x {}", r.empty() ? "" : ", ", b, k);
    return r.empty() ? std::string("none") : r;
  };
  return fmt::format("weights: {}; activations: {}", counts(weights), counts(acts));
}

std::vector<std::string> TensorPrecisions::below_8bit() const {
  std::vector<std::string> r;
  for (const auto* m : {&weights, &acts})
    for (const auto& [t, s] : *m)
      if (s.bits < 8) r.push_back(t);
  return r;
}

TensorPrecisions resolve_precision(const PrecisionPlan* plan, const Platform& platform, const OnnxGraph& g,
                                   const std::vector<QdqSite>& sites) {
  TensorPrecisions tp;
  tp.weight_default = plan ? plan->weight_default() : platform.weight;
  tp.act_default = plan ? plan->act_default() : platform.act;
  if (!plan) {
    for (const auto& s : sites) (s.weight ? tp.weights : tp.acts).emplace(s.tensor, s.weight ? platform.weight : platform.act);
    return tp;
  }
  const std::vector<char> keep8 =
      plan->options().first_last_8bit ? first_and_last(g, sites) : std::vector<char>(g.node_count(), 0);

  // Activations: every site of the tensor contributes; weights: the first site decides.
  struct ActVotes {
    bool keep8 = false;
    std::optional<int> bits;
    std::optional<bool> symmetric;
  };
  std::map<std::string, ActVotes> votes;
  std::vector<std::string> act_order;
  for (const auto& s : sites) {
    if (s.weight) {
      if (tp.weights.count(s.tensor)) continue;
      QuantSpec spec = tp.weight_default;
      if (keep8[s.node]) spec.bits = 8;
      const auto r = plan->node_rule(g.node(s.node));
      if (r.w_bits) spec.bits = *r.w_bits;
      if (r.symmetric) set_symmetric(spec, *r.symmetric);
      if (r.per_channel) spec.per_channel = *r.per_channel;
      tp.weights.emplace(s.tensor, spec);
      continue;
    }
    auto [it, fresh] = votes.try_emplace(s.tensor);
    if (fresh) act_order.push_back(s.tensor);
    ActVotes& v = it->second;
    if (s.output()) {
      v.keep8 |= plan->options().first_last_8bit;
      continue;
    }
    v.keep8 |= keep8[s.node] != 0;
    const auto r = plan->node_rule(g.node(s.node));
    if (r.a_bits) v.bits = std::max(v.bits.value_or(0), *r.a_bits);
    if (r.symmetric && !v.symmetric) v.symmetric = r.symmetric;
  }
  for (const auto& t : act_order) {
    const ActVotes& v = votes.at(t);
    QuantSpec spec = tp.act_default;
    if (v.keep8) spec.bits = 8;
    if (v.bits) spec.bits = *v.bits;
    if (v.symmetric) set_symmetric(spec, *v.symmetric);
    tp.acts.emplace(t, spec);
  }
  // The tensors section, last.
  for (auto* m : {&tp.weights, &tp.acts})
    for (auto& [t, spec] : *m) {
      const QuantOverride* o = plan->tensor_rule(t);
      if (!o) continue;
      if (o->bits) spec.bits = *o->bits;
      if (o->symmetric) set_symmetric(spec, *o->symmetric);
      if (o->per_channel && m == &tp.weights) spec.per_channel = *o->per_channel;
    }
  return tp;
}

TensorPrecisions resolve_precision(const OnnxGraph& fp, const Platform& platform, const QdqOptions& opts) {
  // first_and_last() walks the nodes in topological order. A prepared graph is already in it;
  // only another one is copied (weights included) to be sorted.
  if (fp.is_topological()) return resolve_precision(opts.precision.get(), platform, fp, qdq_sites(fp, platform, opts).sites);
  OnnxGraph g = fp.copy();
  g.topologize();
  return resolve_precision(opts.precision.get(), platform, g, qdq_sites(g, platform, opts).sites);
}

void check_finite_weights(const OnnxGraph& fp, const Platform& platform, const QdqOptions& opts) {
  const QdqSites s = qdq_sites(fp, platform, opts);
  std::set<int> nodes;
  for (const auto& site : s.sites)
    if (site.weight) nodes.insert(site.node);
  for (int i : nodes)
    for (const auto& t : fp.node(i).input()) {
      if (t.empty() || !fp.is_initializer(t) || fp.value_type(t) != DType::F32) continue;
      const Tensor v = fp.get_initializer(t);
      const float* d = v.data<float>();
      for (int64_t k = 0; k < v.numel(); ++k)
        DPL_CHECK(std::isfinite(d[k]), "initializer '{}' (input of {} '{}') holds {} at element {}: the model's "
                  "weights must be finite", t, fp.node(i).op_type(), fp.node(i).name(),
                  std::isnan(d[k]) ? "NaN" : "an infinite value", k);
    }
}

}  // namespace dpl
