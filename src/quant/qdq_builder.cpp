// The QDQ model's pairs: chosen per node input in graph order by the rules of
// quant/qdq_builder.h, then written into the graph (nodes, initializers, value_info) at once.
#include "quant/qdq_builder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

#include "graph/node_builder.h"
#include "graph/tensor_proto.h"
#include "graph/weight_axes.h"
#include "util/error.h"

namespace dpl {

namespace {

bool is_relu_type(const std::string& op) { return op == "Relu" || op == "PRelu" || op == "Mul"; }
// Producers a following one-input Relu is fused into (the original's MERGE_RELU).
bool merges_relu(const std::string& op) { return op == "Conv" || op == "Gemm" || op == "Eltwise" || op == "Add"; }

// Where a pair goes in the new node list.
struct Placement {
  enum Kind { Before, After, Front } kind = Front;
  int node = -1;
};

struct PendingPair {
  QdqPair pair;
  Placement where;
};

class Builder {
 public:
  Builder(OnnxGraph& g, const Platform& p, const ActRanges& act, const WeightRanges& weight, QdqModel& out)
      : g_(g), platform_(p), act_(act), weight_(weight), out_(out) {}

  // Name of the dequantized tensor for `t`, creating the pair when `t` has none yet.
  // `created` tells whether it was created by this call.
  std::string act_pair(const std::string& t, Placement where, const std::string& user, bool& created) {
    created = false;
    if (has_pair(t)) return t + "_dq";
    auto it = act_.find(t);
    if (it == act_.end())
      fail("no activation range for tensor '{}'{}: the platform '{}' quantizes it; calibrate again with this model",
           t, user, platform_.name);
    QdqPair q;
    q.tensor = t;
    q.weight = false;
    q.params = params_for(t, platform_.act, ChannelRanges{{it->second.lo}, {it->second.hi}});
    add(std::move(q), where);
    created = true;
    return t + "_dq";
  }

  std::string weight_pair(const std::string& t, const onnx::NodeProto& node, int input, Placement where,
                          bool& created) {
    created = false;
    if (has_pair(t)) return t + "_dq";
    const std::string user = fmt::format(" (input {} of {} '{}')", input, node.op_type(), node.name());
    auto it = weight_.find(t);
    if (it == weight_.end())
      fail("no weight range for tensor '{}'{}: the platform '{}' quantizes it; compute the weight ranges of this model",
           t, user, platform_.name);
    const onnx::TensorProto* w = g_.initializer_proto(t);
    const int rank = w->dims_size();
    QuantSpec spec = platform_.weight;
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
    created = true;
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
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    auto put_pair = [&](int i) {
      const QdqPair& q = pending_[i].pair;
      const std::string& t = q.tensor;
      for (const bool quantize : {true, false}) {
        onnx::NodeProto& nd = *nodes.Add();
        const std::string op = quantize ? "QuantizeLinear" : "DequantizeLinear";
        const std::string in = quantize ? t : t + "_q", out = quantize ? t + "_q" : t + "_dq";
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
      for (int k = 0; k < 2; ++k) {
        onnx::ValueInfoProto* v = gp.add_value_info();
        v->set_name(q.tensor + (k == 0 ? "_q" : "_dq"));
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
    for (const char* suffix : {"_q", "_dq", "_scale", "_zero_point"}) {
      const std::string name = t + suffix;
      DPL_CHECK(g_.unique_tensor_name(name) == name,
                "cannot quantize tensor '{}': the model already has a tensor named '{}' (is it quantized already?)", t,
                name);
    }
    for (const char* suffix : {"_QuantizeLinear", "_DequantizeLinear"})
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

  Builder b(g, platform, act, weight, out);
  const bool quant_matmul_weight = platform.quantizes("MatMul");
  // Float32 or not known: quantizable. Shape tensors, indices etc. are not.
  auto is_float = [&](const std::string& t) {
    DType d = g.value_type(t);
    return d == DType::F32 || d == DType::Undefined;
  };

  const int n = g.node_count();
  for (int i = 0; i < n; ++i) {
    onnx::NodeProto& node = g.mutable_node(i);
    const std::string& op = node.op_type();
    if (!platform.quantizes(op) || opts.skip_layers.count(node.name())) continue;
    out.quant_nodes.push_back(node.name());
    const int nin = node.input_size();
    const bool relu_type = is_relu_type(op);
    if (relu_type && nin > 0) {
      const int prev = node.input(0).empty() ? -1 : g.producer(node.input(0));
      if (prev < 0) continue;  // input 0 is a graph input or an initializer
      if (nin == 1 && merges_relu(g.node(prev).op_type())) continue;  // fused into its producer
    }
    bool found_weight = false, add_fused_into_conv = false, input0_created = false;
    const Placement here{Placement::Before, i};
    for (int k = 0; k < nin; ++k) {
      const std::string t = node.input(k);
      if (t.empty()) continue;
      if (relu_type && k > 0 && input0_created && opts.original_relu_type_inputs) continue;
      bool created = false;
      std::string dq;
      if (g.is_initializer(t)) {
        const bool weight_input = op_has_weight(op) || (quant_matmul_weight && op == "MatMul" && k == 1);
        if (!weight_input || found_weight) continue;  // biases and constants stay float
        found_weight = true;
        if (g.value_type(t) != DType::F32) continue;
        dq = b.weight_pair(t, node, k, here, created);
      } else {
        if (!is_float(t)) continue;
        if (platform.fuses_add_into_conv && op == "Add" && !add_fused_into_conv) {
          const int prev = g.producer(t);
          if (prev >= 0 && g.node(prev).op_type() == "Conv") {
            add_fused_into_conv = true;  // the back end fuses this branch into the Conv
            continue;
          }
        }
        dq = b.act_pair(t, here, fmt::format(" (input {} of {} '{}')", k, op, node.name()), created);
      }
      node.set_input(k, dq);
      if (k == 0 && created) input0_created = true;
    }
  }

  std::vector<std::pair<int, std::string>> renamed;  // graph output index -> new name
  const auto outputs = g.network_outputs();
  if (platform.quantize_network_output) {
    for (int j = 0; j < static_cast<int>(outputs.size()); ++j) {
      const std::string& t = outputs[j];
      if (g.value_type(t) != DType::F32 && g.value_type(t) != DType::Undefined) {
        warn(fmt::format("graph output '{}' is {}, not float: left unquantized", t, dtype_name(g.value_type(t))));
        continue;
      }
      const int prev = g.producer(t);
      bool created = false;
      Placement where = prev >= 0 ? Placement{Placement::After, prev} : Placement{Placement::Front, -1};
      renamed.emplace_back(j, b.act_pair(t, where, " (a graph output)", created));
    }
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
