#include "profile/subgraph.h"

#include <set>

#include "graph/node_attrs.h"
#include "graph/region.h"
#include "runtime/session.h"
#include "util/error.h"

namespace dpl {

OnnxGraph extract_nodes(const OnnxGraph& g, const std::vector<int>& nodes, const std::vector<std::string>& outputs) {
  OnnxGraph sub = Region(g, nodes, outputs).extract();
  // Inputs of the cut-out model are the caller's tensors: never overwrite them.
  for (int i = 0; i < sub.node_count(); ++i)
    if (sub.node(i).op_type() == "dpl.FakeQuantize") sub.mutable_node(i).clear_attribute();
  return sub;
}

OnnxGraph profiling_graph(const QdqModel& qdq, bool fold_weights) {
  OnnxGraph g = qdq.graph.copy();
  std::vector<char> remove(g.node_count(), 0);
  std::vector<std::pair<std::string, Tensor>> folded;
  std::set<std::string> maybe_unused;
  for (const auto& p : qdq.pairs) {
    const int qi = g.node_index(p.tensor + "_QuantizeLinear");
    const int di = g.node_index(p.tensor + "_DequantizeLinear");
    const std::string q = p.tensor + "_q", dq = p.tensor + "_dq";
    if (p.weight && g.is_initializer(p.tensor)) {
      if (!fold_weights) continue;
      Session s(extract_nodes(g, {qi, di}, {dq}));
      folded.emplace_back(dq, s.run({}).at(dq));
      remove[qi] = remove[di] = 1;
      for (const auto& in : g.node(qi).input()) maybe_unused.insert(in);
      for (const auto& in : g.node(di).input()) maybe_unused.insert(in);
    } else if (!p.params.per_channel() && g.consumers(q).size() == 1 && !g.is_network_output(q)) {
      onnx::NodeProto& d = g.mutable_node(di);
      d.set_op_type("dpl.FakeQuantize");
      d.clear_attribute();
      d.set_input(0, g.node(qi).input(0));  // t, or t_clip when a Clip saturates t to a sub-8-bit grid
      remove[qi] = 1;
    }
  }
  g.remove_nodes(remove);  // rebuilds the maps (after the edits above)
  for (const auto& [name, t] : folded) g.set_initializer(name, t);
  for (const auto& name : maybe_unused)
    if (g.consumers(name).empty() && !g.is_network_output(name)) g.del_initializer(name);
  // A fake-quantized tensor nothing else reads is overwritten in place (saves a buffer and
  // its memory traffic per quantized activation).
  for (int i = 0; i < g.node_count(); ++i) {
    onnx::NodeProto& n = g.mutable_node(i);
    if (n.op_type() != "dpl.FakeQuantize") continue;
    const std::string& x = n.input(0);
    if (g.consumers(x).size() != 1 || g.is_network_input(x) || g.is_network_output(x) || g.is_initializer(x)) continue;
    set_attr(n, "inplace", int64_t{1});
  }
  return g;
}

}  // namespace dpl
