#include "transform/block_model.h"

#include <algorithm>
#include <map>

#include "graph/node_attrs.h"
#include "graph/region.h"
#include "quant/quant_param.h"
#include "util/error.h"

namespace dpl::transform {

train::WeightGrid weight_grid(const QdqPair& p) {
  train::WeightGrid grid;
  grid.axis = p.params.per_channel() ? p.axis : -1;
  grid.scale = p.params.scale;
  // QuantParams' bounds are already those of the code minus the zero point.
  grid.lo = p.params.qmin;
  grid.hi = p.params.qmax;
  return grid;
}

namespace {

void add_input(OnnxGraph& sub, const std::string& name, onnx::TensorProto::DataType type, const Shape* shape) {
  auto* in = sub.graph().add_input();
  in->set_name(name);
  auto* t = in->mutable_type()->mutable_tensor_type();
  t->set_elem_type(type);
  if (shape) {
    auto* s = t->mutable_shape();
    for (int64_t d : *shape) s->add_dim()->set_dim_value(d);
  }
}

onnx::NodeProto make_node(const std::string& op, const std::string& name, std::vector<std::string> in,
                          std::vector<std::string> out) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  for (auto& s : in) n.add_input(s);
  for (auto& s : out) n.add_output(s);
  return n;
}

// A quantized read: node `node` of the block model reads activation `tensor` through `pair`.
struct Read {
  int node;
  int slot;
};

}  // namespace

BlockModel block_model(const OnnxGraph& g, const ReconBlock& block, const QdqModel& q, const BlockModelOptions& o) {
  Region region(g, block.nodes, {block.output});
  DPL_CHECK(region.inputs().size() == 1 && region.inputs()[0] == block.input,
            "it reads {} activations (one, '{}', is supported)", region.inputs().size(), block.input);
  BlockModel m;
  m.graph = region.extract();
  OnnxGraph& sub = m.graph;
  m.input = block.input;

  // What the QDQ model quantizes: weights and activations read through a pair.
  std::map<std::string, std::pair<const QdqPair*, std::vector<Read>>> acts;
  std::vector<std::string> act_order;
  for (int k = 0; k < sub.node_count(); ++k) {
    const auto& n = sub.node(k);
    if (!q.graph.has_node(n.name())) continue;
    const auto& qn = q.graph.node(q.graph.node_index(n.name()));
    for (int i = 0; i < n.input_size() && i < qn.input_size(); ++i) {
      const std::string& t = n.input(i);
      const std::string& qt = qn.input(i);
      if (t.empty() || qt == t || !qt.ends_with("_dq")) continue;
      const QdqPair* p = q.pair(qt.substr(0, qt.size() - 3));
      if (!p) continue;
      if (p->weight) {
        if (!sub.is_initializer(t)) continue;
        if (std::count(o.trained.begin(), o.trained.end(), t)) {
          if (std::none_of(m.weights.begin(), m.weights.end(), [&](const BlockWeight& w) { return w.tensor == t; }))
            m.weights.push_back({t, n.name(), weight_grid(*p)});
        } else {
          // Quantized, not trained: its round-to-nearest value, as the QDQ model computes it.
          sub.set_initializer(t, train::SoftRounding(sub.get_initializer(t), weight_grid(*p)).nearest());
        }
        continue;
      }
      DPL_CHECK(!p->params.per_channel(), "activation '{}' is quantized per channel (per tensor is supported)", t);
      auto& e = acts[t];
      if (!e.first) act_order.push_back(t);
      e.first = p;
      e.second.push_back({k, i});
    }
  }
  for (const auto& w : m.weights) {
    const Tensor v = sub.get_initializer(w.tensor);
    sub.del_initializer(w.tensor);
    add_input(sub, w.tensor, onnx::TensorProto::FLOAT, &v.shape());
  }
  const QdqPair* out_pair = q.pair(block.output);
  if (out_pair && out_pair->weight) out_pair = nullptr;
  DPL_CHECK(!out_pair || !out_pair->params.per_channel(), "output '{}' is quantized per channel (per tensor is supported)",
            block.output);

  // New nodes go right after the producer of the tensor they read (index -1: before all).
  std::map<int, std::vector<onnx::NodeProto>> after;
  const bool mix_input = o.drop;
  if (mix_input) {
    m.input_fp = block.input + "_fp";
    m.seeds.push_back(block.input + "_seed");
  }
  // Fake quantization of `t` by pair p: returns the tensor its readers read.
  auto quantize = [&](const std::string& t, const QdqPair& p, bool is_input) {
    const auto& qp = p.params;
    BlockScale s;
    s.tensor = t;
    s.input = t + "_fq_scale";
    s.scale = qp.scale[0];
    s.qmin = qp.qmin[0];
    s.qmax = qp.qmax[0];
    s.learned = o.learn_scales && !is_input;
    if (s.learned) {
      const Shape scalar;
      add_input(sub, s.input, onnx::TensorProto::FLOAT, &scalar);
    } else {
      sub.set_initializer(s.input, Tensor::scalar<float>(s.scale));
    }
    QuantParams zp = qp;
    zp.scale.resize(1);
    zp.zero_point.resize(1);
    sub.set_initializer(t + "_fq_zp", zero_point_tensor(zp));
    const int32_t z = qp.zero_point[0];
    onnx::NodeProto fq = make_node("dpl.FakeQuantize", t + "_fq", {t, s.input, t + "_fq_zp"}, {t + "_fq"});
    set_attr(fq, "qmin", int64_t{s.qmin + z});
    set_attr(fq, "qmax", int64_t{s.qmax + z});
    const int at = is_input ? -1 : sub.producer(t);
    after[at].push_back(fq);
    m.scales.push_back(s);
    if (!o.drop) return t + "_fq";
    const std::string seed = is_input ? m.seeds.front() : t + "_seed";
    if (!is_input) m.seeds.push_back(seed);
    onnx::NodeProto mix = make_node("dpl.DropMix", t + "_drop", {t + "_fq", is_input ? m.input_fp : t, seed},
                                    {t + "_drop", t + "_drop_mask"});
    set_attr(mix, "prob", static_cast<float>(o.drop_prob));
    after[at].push_back(mix);
    return t + "_drop";
  };

  std::map<std::pair<int, int>, std::string> rewire;
  for (const auto& t : act_order) {
    const auto& [p, reads] = acts.at(t);
    const std::string to = quantize(t, *p, t == block.input);
    for (const Read& r : reads) rewire[{r.node, r.slot}] = to;
  }
  if (mix_input) {
    // Readers of the block input that the QDQ model leaves float read the same mix of the
    // quantized model's and the FP32 model's value.
    bool raw = false;
    for (int k = 0; k < sub.node_count(); ++k)
      for (int i = 0; i < sub.node(k).input_size(); ++i)
        if (sub.node(k).input(i) == block.input && !rewire.count({k, i})) {
          rewire[{k, i}] = block.input + "_rawmix";
          raw = true;
        }
    if (raw) {
      onnx::NodeProto mix = make_node("dpl.DropMix", block.input + "_rawmix",
                                      {block.input, m.input_fp, m.seeds.front()},
                                      {block.input + "_rawmix", block.input + "_rawmix_mask"});
      set_attr(mix, "prob", static_cast<float>(o.drop_prob));
      after[-1].push_back(mix);
    }
  }
  m.output = block.output;
  if (out_pair) m.output = quantize(block.output, *out_pair, false);

  // Rebuild the node list with the new nodes in place and the reads rewired.
  std::vector<onnx::NodeProto> nodes;
  for (const auto& n : after[-1]) nodes.push_back(n);
  for (int k = 0; k < sub.node_count(); ++k) {
    onnx::NodeProto n = sub.node(k);
    for (int i = 0; i < n.input_size(); ++i) {
      auto it = rewire.find({k, i});
      if (it != rewire.end()) n.set_input(i, it->second);
    }
    nodes.push_back(n);
    if (after.count(k))
      for (const auto& extra : after[k]) nodes.push_back(extra);
  }
  auto* list = sub.graph().mutable_node();
  list->Clear();
  for (auto& n : nodes) *list->Add() = std::move(n);
  if (mix_input) {
    const onnx::ValueInfoProto* vi = nullptr;
    for (const auto& in : sub.graph().input())
      if (in.name() == block.input) vi = &in;
    DPL_CHECK(vi, "internal: block input '{}' is not a graph input of the block model", block.input);
    onnx::ValueInfoProto copy = *vi;
    copy.set_name(m.input_fp);
    *sub.graph().add_input() = copy;
  }
  for (const auto& s : m.seeds) {
    const Shape scalar;
    add_input(sub, s, onnx::TensorProto::INT64, &scalar);
  }
  if (m.output != block.output) {
    auto* out = sub.graph().mutable_output(0);
    out->set_name(m.output);
  }
  sub.update_maps();
  return m;
}

}  // namespace dpl::transform
