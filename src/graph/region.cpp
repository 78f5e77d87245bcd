// Regions of a model (graph/region.h): boundary, extraction and splicing back.
#include "graph/region.h"

#include <algorithm>
#include <unordered_map>

#include "util/error.h"

namespace dpl {

namespace {

// Names read by the subgraphs of the nodes outside `region` (flags per node of g).
std::unordered_set<std::string> outside_subgraph_reads(const OnnxGraph& g, const std::vector<char>& region) {
  std::unordered_set<std::string> names;
  for (int i = 0; i < g.node_count(); ++i)
    if (!region[i]) collect_subgraph_reads(g.node(i), names);
  return names;
}

// Whether a node outside `region` reads `tensor`, or it leaves the graph.
bool used_outside(const OnnxGraph& g, const std::vector<char>& region, const std::unordered_set<std::string>& sub,
                  const std::string& tensor) {
  if (g.is_network_output(tensor) || sub.count(tensor)) return true;
  for (int c : g.consumers(tensor))
    if (!region[c]) return true;
  return false;
}

onnx::ValueInfoProto typed(const std::string& name, DType type) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  v.mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(type));
  return v;
}

}  // namespace

void collect_subgraph_reads(const onnx::NodeProto& node, std::unordered_set<std::string>& names) {
  for (const auto& a : node.attribute()) {
    std::vector<const onnx::GraphProto*> bodies;
    if (a.has_g()) bodies.push_back(&a.g());
    for (const auto& b : a.graphs()) bodies.push_back(&b);
    for (const onnx::GraphProto* body : bodies) {
      for (const auto& n : body->node()) {
        for (const auto& in : n.input())
          if (!in.empty()) names.insert(in);
        collect_subgraph_reads(n, names);
      }
      for (const auto& o : body->output()) names.insert(o.name());
    }
  }
}

Region::Region(const OnnxGraph& g, std::vector<int> nodes, NoOutputs)
    : g_(&g), nodes_(std::move(nodes)), in_(g.node_count(), 0) {
  std::sort(nodes_.begin(), nodes_.end());
  nodes_.erase(std::unique(nodes_.begin(), nodes_.end()), nodes_.end());
  for (int i : nodes_) {
    DPL_CHECK(i >= 0 && i < g.node_count(), "region: node index {} out of range (0..{})", i, g.node_count());
    in_[i] = 1;
  }
  find_boundary();
}

Region::Region(const OnnxGraph& g, std::vector<int> nodes) : Region(g, std::move(nodes), NoOutputs{}) {
  auto_outputs();
}

Region::Region(const OnnxGraph& g, std::vector<int> nodes, std::vector<std::string> outputs)
    : Region(g, std::move(nodes), NoOutputs{}) {
  set_outputs(std::move(outputs), false);
}

Region Region::up_to(const OnnxGraph& g, const std::vector<std::string>& targets) {
  for (const auto& t : targets)
    DPL_CHECK(g.producer(t) >= 0 || g.is_network_input(t), "'{}' is neither a node output nor a graph input", t);
  std::vector<char> live(g.node_count(), 0);
  std::vector<int> nodes;
  std::vector<std::string> work = targets;
  while (!work.empty()) {
    const int p = g.producer(work.back());
    work.pop_back();
    if (p < 0 || live[p]) continue;
    live[p] = 1;
    nodes.push_back(p);
    for (const auto& in : g.node(p).input())
      if (!in.empty()) work.push_back(in);
    std::unordered_set<std::string> inner;
    collect_subgraph_reads(g.node(p), inner);
    work.insert(work.end(), inner.begin(), inner.end());
  }
  Region r(g, std::move(nodes), NoOutputs{});
  r.set_outputs(targets, true);
  return r;
}

void Region::find_boundary() {
  const OnnxGraph& g = *g_;
  std::unordered_set<std::string> seen;
  auto read = [&](const std::string& t) {
    if (t.empty() || produced_.count(t) || !seen.insert(t).second) return;
    (g.is_initializer(t) ? initializers_ : inputs_).push_back(t);
  };
  for (int i : nodes_) {
    const onnx::NodeProto& n = g.node(i);
    for (const auto& in : n.input()) read(in);
    // Outer tensors of its subgraphs (names local to a body are none of g's tensors).
    std::unordered_set<std::string> inner;
    collect_subgraph_reads(n, inner);
    std::vector<std::string> outer;
    for (const auto& t : inner)
      if (g.is_initializer(t) || g.is_network_input(t) || g.producer(t) >= 0) outer.push_back(t);
    std::sort(outer.begin(), outer.end());
    for (const auto& t : outer) read(t);
    for (const auto& out : n.output())
      if (!out.empty()) produced_.insert(out);
  }
}

void Region::set_outputs(std::vector<std::string> outputs, bool inputs_allowed) {
  for (auto& o : outputs) {
    if (std::find(outputs_.begin(), outputs_.end(), o) != outputs_.end()) continue;
    if (!produced_.count(o)) {
      DPL_CHECK(inputs_allowed && g_->is_network_input(o), "region: no node of the region produces '{}'", o);
      if (std::find(inputs_.begin(), inputs_.end(), o) == inputs_.end()) inputs_.push_back(o);
    }
    outputs_.push_back(std::move(o));
  }
}

void Region::auto_outputs() {
  const OnnxGraph& g = *g_;
  const auto sub = outside_subgraph_reads(g, in_);
  for (int i : nodes_)
    for (const auto& out : g.node(i).output())
      if (!out.empty() && used_outside(g, in_, sub, out)) outputs_.push_back(out);
}

OnnxGraph Region::extract(const ExtractOptions& opts) const {
  const OnnxGraph& g = *g_;
  onnx::ModelProto m;
  m.set_ir_version(g.model().ir_version());
  *m.mutable_opset_import() = g.model().opset_import();
  *m.mutable_functions() = g.model().functions();
  onnx::GraphProto& gp = *m.mutable_graph();
  gp.set_name("region");
  for (const auto& name : initializers_) *gp.add_initializer() = *g.initializer_proto(name);
  if (opts.model_inputs) {
    for (const auto& in : g.graph().input())
      if (!g.is_initializer(in.name())) *gp.add_input() = in;
  } else {
    for (const auto& name : inputs_) *gp.add_input() = typed(name, g.value_type(name));
  }
  for (int i : nodes_) *gp.add_node() = g.node(i);
  for (const auto& name : outputs_) {
    const onnx::ValueInfoProto* known = opts.model_inputs ? g.value_info(name) : nullptr;
    onnx::ValueInfoProto v = typed(name, g.value_type(name));
    if (known) v.mutable_type()->CopyFrom(known->type());
    *gp.add_output() = std::move(v);
  }
  return OnnxGraph::from_model(std::move(m), g.base_dir());
}

void Region::replace(OnnxGraph& g, const OnnxGraph& rewritten) const {
  DPL_CHECK(&g == g_ && static_cast<int>(in_.size()) == g.node_count(),
            "region: replace() needs the unchanged graph the region was made from");
  const auto sub = outside_subgraph_reads(g, in_);
  std::unordered_set<std::string> made;
  for (const auto& n : rewritten.graph().node()) {
    DPL_CHECK(!g.has_node(n.name()) || in_[g.node_index(n.name())],
              "region: the rewritten node '{}' has the name of a node outside the region", n.name());
    for (const auto& out : n.output()) {
      if (out.empty()) continue;
      const int p = g.producer(out);
      DPL_CHECK((p < 0 || in_[p]) && !g.is_initializer(out) && !g.is_network_input(out),
                "region: the rewritten region produces '{}', which the graph has outside the region", out);
      made.insert(out);
    }
  }
  for (const auto& o : outputs_)
    DPL_CHECK(made.count(o) || g.is_network_input(o), "region: the rewritten region does not produce output '{}'", o);
  for (const auto& in : rewritten.network_inputs()) {
    const int p = g.producer(in);
    DPL_CHECK(g.is_network_input(in) || g.is_initializer(in) || (p >= 0 && !in_[p]),
              "region: the rewritten region reads '{}', which the graph does not have outside the region", in);
  }
  for (const auto& init : rewritten.graph().initializer()) {
    if (!g.is_initializer(init.name()) || !used_outside(g, in_, sub, init.name())) continue;
    DPL_CHECK(g.initializer_proto(init.name())->SerializeAsString() == init.SerializeAsString(),
              "region: initializer '{}' is shared with nodes outside the region and cannot change", init.name());
  }

  // The new nodes fill the old ones' places in order, the ones left over go after the last
  // place (so a region written back unchanged keeps the graph's order); topologize() moves
  // what must come later.
  onnx::GraphProto& gp = g.graph();
  const auto& fresh = rewritten.graph().node();
  google::protobuf::RepeatedPtrField<onnx::NodeProto> spliced;
  int next = 0, places = 0;
  for (int i = 0; i < g.node_count(); ++i) {
    if (!in_[i]) {
      *spliced.Add() = std::move(*gp.mutable_node(i));
      continue;
    }
    const bool last = ++places == static_cast<int>(nodes_.size());
    while (next < fresh.size() && (last || next < places)) *spliced.Add() = fresh.Get(next++);
  }
  while (next < fresh.size()) *spliced.Add() = fresh.Get(next++);
  gp.mutable_node()->Swap(&spliced);
  std::unordered_map<std::string, onnx::TensorProto*> inits;
  for (auto& init : *gp.mutable_initializer()) inits[init.name()] = &init;
  for (const auto& init : rewritten.graph().initializer()) {
    auto it = inits.find(init.name());
    *(it != inits.end() ? it->second : gp.add_initializer()) = init;
  }
  g.update_maps();
  g.topologize();

  // What only the old nodes used: their initializers and the shapes of their tensors.
  std::unordered_set<std::string> reads;
  for (int i = 0; i < g.node_count(); ++i) collect_subgraph_reads(g.node(i), reads);
  for (const auto& name : initializers_)
    if (g.is_initializer(name) && g.consumers(name).empty() && !g.is_network_output(name) && !reads.count(name))
      g.del_initializer(name);
  auto* vi = gp.mutable_value_info();
  for (int k = vi->size() - 1; k >= 0; --k) {
    const std::string& name = vi->Get(k).name();
    if (produced_.count(name) && !made.count(name)) vi->DeleteSubrange(k, 1);
  }
  g.update_maps();
}

}  // namespace dpl
