// The QDQ model's pairs: placed by quant/qdq_sites.h, each on the grid the precision plan gives
// its tensor, then written into the graph (nodes, initializers, value_info) at once.
#include "quant/qdq_builder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <unordered_map>

#include "graph/node_builder.h"
#include "graph/tensor_proto.h"
#include "graph/weight_axes.h"
#include "util/error.h"

namespace dpl {

namespace {

// Where a pair goes in the new node list.
struct Placement {
  enum Kind { Before, After, Front } kind = Front;
  int node = -1;
};

struct PendingPair {
  QdqPair pair;
  Placement where;
};

// The dequantized ends of channel c's grid: (qmin - zp) * s and (qmax - zp) * s (qmin, qmax
// are stored relative to the zero point). QuantizeLinear of either lands on qmin / qmax: the
// float product divided by s is within an ulp of the integer.
std::pair<float, float> grid_ends(const QuantParams& p, size_t c) {
  const double s = p.scale[c];
  return {static_cast<float>(p.qmin[c] * s), static_cast<float>(p.qmax[c] * s)};
}

// `w` with every value whose QuantizeLinear code (float division, half to even, as ONNX)
// falls outside the pair's qmin..qmax set to that end of the grid; nullopt when none does.
std::optional<Tensor> clip_to_grid(const Tensor& w, const QdqPair& q) {
  const QuantParams& p = q.params;
  const int64_t channels = static_cast<int64_t>(p.scale.size());
  int64_t inner = 1;
  if (q.axis >= 0)
    for (int d = q.axis + 1; d < w.rank(); ++d) inner *= w.shape()[d];
  const float* x = w.data<float>();
  std::optional<Tensor> out;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const size_t c = channels == 1 ? 0 : static_cast<size_t>((i / inner) % channels);
    const float code = std::nearbyint(x[i] / p.scale[c]);
    if (code >= static_cast<float>(p.qmin[c]) && code <= static_cast<float>(p.qmax[c])) continue;
    if (!out) out = w.clone();
    const auto [lo, hi] = grid_ends(p, c);
    out->data<float>()[i] = code < static_cast<float>(p.qmin[c]) ? lo : hi;
  }
  return out;
}

class Builder {
 public:
  Builder(OnnxGraph& g, const Platform& p, const ActRanges& act, const WeightRanges& weight, QdqModel& out)
      : g_(g), platform_(p), act_(act), weight_(weight), out_(out) {}

  // Name of the dequantized tensor for `t`, creating the pair when `t` has none yet.
  std::string act_pair(const std::string& t, Placement where, const std::string& user, const QuantSpec& spec) {
    if (has_pair(t)) return t + "_dq";
    auto it = act_.find(t);
    if (it == act_.end())
      fail("no activation range for tensor '{}'{}: the platform '{}' quantizes it; calibrate again with this model",
           t, user, platform_.name);
    QdqPair q;
    q.tensor = t;
    q.weight = false;
    q.params = params_for(t, spec, ChannelRanges{{it->second.lo}, {it->second.hi}});
    add(std::move(q), where);
    return t + "_dq";
  }

  std::string weight_pair(const std::string& t, const onnx::NodeProto& node, int input, Placement where,
                          QuantSpec spec) {
    if (has_pair(t)) return t + "_dq";
    const std::string user = fmt::format(" (input {} of {} '{}')", input, node.op_type(), node.name());
    auto it = weight_.find(t);
    if (it == weight_.end())
      fail("no weight range for tensor '{}'{}: the platform '{}' quantizes it; compute the weight ranges of this model",
           t, user, platform_.name);
    const onnx::TensorProto* w = g_.initializer_proto(t);
    const int rank = w->dims_size();
    int axis = spec.per_channel ? weight_channel_axis(node, input, rank) : -1;
    const ChannelRanges& r = it->second;
    if (axis < 0) spec.per_channel = false;  // no channel axis: per tensor
    if (spec.per_channel) {
      const int64_t channels = w->dims(axis);
      if (static_cast<int64_t>(r.lo.size()) != channels)
        fail("weight range of '{}'{} has {} channels, but the weight {} has {} output channels along axis {}; compute "
             "the weight ranges of this model again",
             t, user, r.lo.size(), shape_str(Shape(w->dims().begin(), w->dims().end())), channels, axis);
    }
    QdqPair q;
    q.tensor = t;
    q.weight = true;
    q.params = params_for(t, spec, r);
    q.axis = q.params.per_channel() ? axis : -1;
    add(std::move(q), where);
    return t + "_dq";
  }

  bool has_pair(const std::string& t) const { return index_.count(t) != 0; }

  // Writes the pairs into the graph: nodes at their places, initializers, value_info.
  void emit() {
    auto& gp = g_.graph();
    const int n = gp.node_size();
    std::vector<std::vector<int>> before(n), after(n);
    std::vector<int> front;
    for (size_t i = 0; i < pending_.size(); ++i) {
      const Placement& p = pending_[i].where;
      if (p.kind == Placement::Before) before[p.node].push_back(static_cast<int>(i));
      else if (p.kind == Placement::After) after[p.node].push_back(static_cast<int>(i));
      else front.push_back(static_cast<int>(i));
    }
    // Tensors some node still reads directly (not through a pair): a weight among them keeps
    // its values, and a clipped copy feeds the pair.
    std::set<std::string> read_directly;
    for (const auto& nd : gp.node())
      for (const auto& in : nd.input()) read_directly.insert(in);
    std::vector<std::string> source(pending_.size());
    for (size_t i = 0; i < pending_.size(); ++i) {
      const QdqPair& q = pending_[i].pair;
      source[i] = q.tensor;
      if (!q.weight || q.params.bits >= 8 || !g_.is_initializer(q.tensor)) continue;
      std::optional<Tensor> clipped = clip_to_grid(g_.get_initializer(q.tensor), q);
      if (!clipped) continue;
      if (read_directly.count(q.tensor)) source[i] = g_.unique_tensor_name(q.tensor + "_clipped");
      g_.set_initializer(source[i], *clipped);
    }
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    auto put_pair = [&](int i) {
      const QdqPair& q = pending_[i].pair;
      const std::string& t = q.tensor;
      std::string src = source[i];
      if (clips_to_grid(q)) {
        *nodes.Add() = make_node("Clip", {t, t + "_clip_min", t + "_clip_max"}, {t + "_clip"}, t + "_Clip");
        src = t + "_clip";
      }
      for (const bool quantize : {true, false}) {
        onnx::NodeProto& nd = *nodes.Add();
        const std::string op = quantize ? "QuantizeLinear" : "DequantizeLinear";
        const std::string in = quantize ? src : t + "_q", out = quantize ? t + "_q" : t + "_dq";
        nd = make_node(op, {in, t + "_scale", t + "_zero_point"}, {out}, t + "_" + op);
        if (q.axis >= 0) set_attr(nd, "axis", q.axis);
      }
    };
    for (int i : front) put_pair(i);
    for (int k = 0; k < n; ++k) {
      for (int i : before[k]) put_pair(i);
      *nodes.Add() = gp.node(k);
      for (int i : after[k]) put_pair(i);
    }
    gp.mutable_node()->Swap(&nodes);

    for (const auto& pp : pending_) {
      const QdqPair& q = pp.pair;
      const QuantParams& p = q.params;
      *gp.add_initializer() = tensor_to_proto(scale_tensor(p), q.tensor + "_scale");
      *gp.add_initializer() = tensor_to_proto(zero_point_tensor(p), q.tensor + "_zero_point");
      if (clips_to_grid(q)) {
        const auto [lo, hi] = grid_ends(p, 0);
        *gp.add_initializer() = tensor_to_proto(Tensor::from_vector<float>({}, {lo}), q.tensor + "_clip_min");
        *gp.add_initializer() = tensor_to_proto(Tensor::from_vector<float>({}, {hi}), q.tensor + "_clip_max");
      }
      // Types (and shapes where known) of the new tensors, for later passes that ask.
      onnx::TypeProto type;
      if (const auto* w = g_.initializer_proto(q.tensor)) {
        auto* tt = type.mutable_tensor_type();
        tt->set_elem_type(w->data_type());
        tt->mutable_shape();
        for (auto d : w->dims()) tt->mutable_shape()->add_dim()->set_dim_value(d);
      } else if (const auto* v = g_.value_info(q.tensor); v && v->type().has_tensor_type()) {
        type = v->type();
      } else {
        type.mutable_tensor_type()->set_elem_type(static_cast<int>(DType::F32));
      }
      for (int k = 0; k < 3; ++k) {
        if (k == 2 && !clips_to_grid(q)) break;
        onnx::ValueInfoProto* v = gp.add_value_info();
        v->set_name(q.tensor + (k == 0 ? "_q" : k == 1 ? "_dq" : "_clip"));
        *v->mutable_type() = type;
        v->mutable_type()->mutable_tensor_type()->set_elem_type(
            static_cast<int>(k == 0 ? p.zp_type : DType::F32));
      }
      out_.pairs.push_back(q);
    }
    g_.update_maps();
  }

 private:
  QuantParams params_for(const std::string& t, const QuantSpec& spec, const ChannelRanges& r) {
    try {
      return quant_params(spec, r);
    } catch (const Error& e) {
      fail("tensor '{}': {}", t, e.what());
    }
  }

  void add(QdqPair q, Placement where) {
    const std::string& t = q.tensor;
    for (const char* suffix : {"_q", "_dq", "_scale", "_zero_point", "_clip", "_clip_min", "_clip_max"}) {
      const std::string name = t + suffix;
      DPL_CHECK(g_.unique_tensor_name(name) == name,
                "cannot quantize tensor '{}': the model already has a tensor named '{}' (is it quantized already?)", t,
                name);
    }
    for (const char* suffix : {"_QuantizeLinear", "_DequantizeLinear", "_Clip"})
      DPL_CHECK(!g_.has_node(t + suffix),
                "cannot quantize tensor '{}': the model already has a node named '{}' (is it quantized already?)", t,
                t + suffix);
    index_[t] = pending_.size();
    pending_.push_back({std::move(q), where});
  }

  OnnxGraph& g_;
  const Platform& platform_;
  const ActRanges& act_;
  const WeightRanges& weight_;
  QdqModel& out_;
  std::vector<PendingPair> pending_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace

const QdqPair* QdqModel::pair(const std::string& tensor) const {
  for (const auto& p : pairs)
    if (p.tensor == tensor) return &p;
  return nullptr;
}

QdqModel build_qdq(const OnnxGraph& fp, const Platform& platform, const ActRanges& act, const WeightRanges& weight,
                   const QdqOptions& opts) {
  QdqModel out;
  OnnxGraph g = fp.copy();
  DPL_CHECK(g.opset() >= 13, "the QDQ model needs opset 13 or later, the model has opset {}; convert it first", g.opset());
  g.topologize();
  auto warn = [&](std::string w) {
    if (!opts.quiet) spdlog::warn("{}", w);
    out.warnings.push_back(std::move(w));
  };

  for (const auto& name : opts.skip_layers)
    if (!g.has_node(name)) warn(fmt::format("skip_layers: the model has no node named '{}'", name));

  QdqSites sites = qdq_sites(g, platform, opts);
  out.quant_nodes = std::move(sites.quant_nodes);
  out.matched = std::move(sites.matched);
  out.kept_float = std::move(sites.kept_float);
  for (auto& w : sites.warnings) warn(std::move(w));
  out.precision = resolve_precision(opts.precision.get(), platform, g, sites.sites);

  Builder b(g, platform, act, weight, out);
  const auto outputs = g.network_outputs();
  std::vector<std::pair<int, std::string>> renamed;  // graph output index -> new name
  for (const QdqSite& s : sites.sites) {
    const std::string& t = s.tensor;
    if (s.output()) {
      const Placement where = s.node >= 0 ? Placement{Placement::After, s.node} : Placement{Placement::Front, -1};
      const std::string dq = b.act_pair(t, where, " (a graph output)", out.precision.act(t));
      for (int j = 0; j < static_cast<int>(outputs.size()); ++j)
        if (outputs[j] == t) renamed.emplace_back(j, dq);
      continue;
    }
    onnx::NodeProto& node = g.mutable_node(s.node);
    const Placement here{Placement::Before, s.node};
    const std::string dq =
        s.weight ? b.weight_pair(t, node, s.input, here, out.precision.weight(t))
                 : b.act_pair(t, here, fmt::format(" (input {} of {} '{}')", s.input, node.op_type(), node.name()),
                              out.precision.act(t));
    node.set_input(s.input, dq);
  }
  b.emit();

  auto& gp = g.graph();
  for (const auto& [j, name] : renamed) {
    onnx::ValueInfoProto* o = gp.mutable_output(j);
    // The old output stays an intermediate tensor: keep its type known.
    const bool listed = g.is_network_input(o->name()) ||
                        std::any_of(gp.value_info().begin(), gp.value_info().end(),
                                    [&](const onnx::ValueInfoProto& v) { return v.name() == o->name(); });
    if (!listed) *gp.add_value_info() = *o;
    o->set_name(name);
    o->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(DType::F32));
  }
  g.update_maps();
  g.topologize();
  for (const auto& t : outputs) out.outputs[t] = t;
  for (const auto& [j, name] : renamed) out.outputs[outputs[j]] = name;
  out.graph = std::move(g);
  return out;
}

}  // namespace dpl
