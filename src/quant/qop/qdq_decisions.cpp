// The QDQ model's decisions indexed per node input, and the rules that pick an integer op's
// output parameters (docs/qop.md "What is in qop_model.onnx").
#include "quant/qop/qdq_decisions.h"

#include <cmath>
#include <limits>
#include <utility>

#include "quant/qop_tensors.h"
#include "util/error.h"

namespace dpl::qop {

namespace {

std::pair<double, double> representable_codes(const QuantParams& p) {
  return p.zp_type == DType::I8 ? std::pair<double, double>{-128, 127} : std::pair<double, double>{0, 255};
}

bool is_clamp(const std::string& op) { return op == "Relu" || op == "Clip"; }

}  // namespace

QdqDecisions::QdqDecisions(const OnnxGraph& g, const QdqModel& qdq, const Platform& platform, const ActRanges& act,
                           const QdqOptions& opts)
    : g_(g), qdq_(qdq), platform_(platform), act_(act), opts_(opts) {
  for (const auto& p : qdq_.pairs) pair_by_tensor_[p.tensor] = &p;
  quantized_nodes_.insert(qdq_.quant_nodes.begin(), qdq_.quant_nodes.end());
  const int n = g_.node_count();
  input_pairs_.resize(n);
  for (int i = 0; i < n; ++i) {
    const onnx::NodeProto& node = g_.node(i);
    DPL_CHECK(qdq_.graph.has_node(node.name()), "the QDQ model has no node '{}': it was not built from this model",
              node.name());
    const onnx::NodeProto& qn = qdq_.graph.node(qdq_.graph.node_index(node.name()));
    DPL_CHECK(qn.input_size() == node.input_size(), "node '{}' has {} inputs in the QDQ model, {} in the model",
              node.name(), qn.input_size(), node.input_size());
    input_pairs_[i].assign(node.input_size(), nullptr);
    for (int k = 0; k < node.input_size(); ++k) {
      const std::string& s = qn.input(k);
      if (s.size() <= 3 || s.compare(s.size() - 3, 3, "_dq") != 0) continue;
      const std::string base = s.substr(0, s.size() - 3);
      auto it = pair_by_tensor_.find(base);
      if (it != pair_by_tensor_.end() && base == node.input(k)) input_pairs_[i][k] = it->second;
    }
  }
}

const QdqPair* QdqDecisions::pair(const std::string& t) const {
  auto it = pair_by_tensor_.find(t);
  return it == pair_by_tensor_.end() ? nullptr : it->second;
}

std::optional<QuantParams> QdqDecisions::target_params(const std::string& t) const {
  if (const QdqPair* p = pair(t)) return p->params;
  auto r = act_.find(t);
  if (r == act_.end()) return std::nullopt;
  try {
    return quant_params(platform_.act, r->second);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Q(clip(y)) == Q(y) for every y when clip's bounds quantize to the ends of p's type
// (QuantizeLinear is monotone and saturates there).
bool QdqDecisions::clamp_is_saturation(const onnx::NodeProto& r, const QuantParams& p) const {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  if (r.op_type() == "Relu") {
    lo = 0;
  } else {
    for (int k = 1; k <= 2 && k < r.input_size(); ++k) {
      const std::string& b = r.input(k);
      if (b.empty()) continue;
      if (!g_.is_initializer(b)) return false;
      Tensor v = g_.get_initializer(b);
      if (v.numel() != 1) return false;
      (k == 1 ? lo : hi) = v.at_f64(0);
    }
  }
  const auto [tmin, tmax] = representable_codes(p);
  auto code = [&](double x) {
    if (std::isinf(x)) return x;
    return std::nearbyint(static_cast<double>(static_cast<float>(x) / p.scale[0])) + p.zero_point[0];
  };
  return code(lo) <= tmin && code(hi) >= tmax;
}

std::optional<OutputPlan> QdqDecisions::output_plan(const std::string& y) const {
  if (const QdqPair* p = pair(y)) return OutputPlan{p->params, -1};
  const auto& cons = g_.consumers(y);
  if (cons.size() == 1 && !g_.is_network_output(y)) {
    const onnx::NodeProto& r = g_.node(cons[0]);
    if (is_clamp(r.op_type()) && r.input(0) == y && r.output_size() == 1 && !opts_.skip_layers.count(r.name())) {
      if (auto p = target_params(r.output(0))) {
        OutputPlan plan{*p, -1};
        if (clamp_is_saturation(r, *p)) plan.fold = cons[0];
        return plan;
      }
    }
  }
  if (auto p = target_params(y)) return OutputPlan{*p, -1};
  return std::nullopt;
}

bool QdqDecisions::integer_only(const std::string& y, const QuantParams& p, std::string& why) const {
  if (g_.is_network_output(y)) {
    auto it = qdq_.outputs.find(y);
    const QdqPair* pr = pair(y);
    if (it == qdq_.outputs.end() || it->second == y || !pr || !same_grid(pr->params, p)) {
      why = "it is a graph output in float";
      return false;
    }
  }
  std::set<int> seen;
  for (int c : g_.consumers(y)) {
    if (!seen.insert(c).second) continue;
    const onnx::NodeProto& cn = g_.node(c);
    for (int k = 0; k < cn.input_size(); ++k) {
      if (cn.input(k) != y) continue;
      if (const QdqPair* q = input_pair(c, k)) {
        if (same_grid(q->params, p)) continue;
        why = fmt::format("{} '{}' quantizes it with other parameters", cn.op_type(), cn.name());
        return false;
      }
      if (is_clamp(cn.op_type()) && k == 0 && !opts_.skip_layers.count(cn.name())) {
        auto pr = target_params(cn.output(0));
        if (pr && same_grid(*pr, p) && integer_only(cn.output(0), p, why)) continue;
        if (!why.empty()) return false;
      }
      why = fmt::format("{} '{}' takes it unquantized", cn.op_type(), cn.name());
      return false;
    }
  }
  return true;
}

}  // namespace dpl::qop
