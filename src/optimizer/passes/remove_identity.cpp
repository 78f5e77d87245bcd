#include <unordered_map>

#include "optimizer/passes/passes.h"

namespace dpl::passes {

namespace {

bool is_std(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// Dropout passes its input through unless training_mode is given and may be true; a mask
// output somebody reads keeps the node (the runtime makes it all true).
bool is_passthrough(const OnnxGraph& g, const onnx::NodeProto& n) {
  if (!is_std(n) || n.input_size() < 1 || n.input(0).empty() || n.output_size() < 1 || n.output(0).empty())
    return false;
  if (n.op_type() == "Identity") return n.input_size() == 1;
  if (n.op_type() != "Dropout") return false;
  for (int k = 1; k < n.output_size(); ++k) {
    const std::string& m = n.output(k);
    if (!m.empty() && (!g.consumers(m).empty() || g.is_network_output(m))) return false;
  }
  if (n.input_size() >= 3 && !n.input(2).empty()) {
    if (!g.is_initializer(n.input(2))) return false;
    Tensor t = g.get_initializer(n.input(2));
    if (t.numel() != 1 || t.at_i64(0) != 0) return false;
  }
  for (const auto& a : n.attribute())
    if (a.name() == "is_test" && a.i() == 0) return false;  // opset < 7 training mode
  return true;
}

}  // namespace

int remove_identity(OnnxGraph& g) {
  const auto in_subgraphs = subgraph_reads(g);
  std::vector<char> remove(g.node_count(), 0);
  std::unordered_map<std::string, std::string> alias;  // removed output -> the tensor it equals
  int removed = 0;
  // Outputs that are only read by nodes: consumers read the input instead.
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    if (!is_passthrough(g, n)) continue;
    const std::string& y = n.output(0);
    if (g.is_network_output(y) || in_subgraphs.count(y)) continue;
    alias[y] = n.input(0);
    remove[i] = 1;
    ++removed;
  }
  if (removed) {
    auto resolve = [&](std::string s) {
      for (auto it = alias.find(s); it != alias.end(); it = alias.find(s)) s = it->second;
      return s;
    };
    for (auto& n : *g.graph().mutable_node())
      for (auto& in : *n.mutable_input())
        if (alias.count(in)) in = resolve(in);
    g.remove_nodes(remove);
  }
  // Graph outputs: the producer of the input produces the output name instead, when the
  // input is an ordinary intermediate tensor.
  for (bool again = true; again;) {
    again = false;
    for (int i = 0; i < g.node_count(); ++i) {
      const auto& n = g.node(i);
      if (!is_passthrough(g, n)) continue;
      const std::string x = n.input(0), y = n.output(0);
      if (g.producer(x) < 0 || g.is_network_output(x) || in_subgraphs.count(x) || in_subgraphs.count(y)) continue;
      const int p = g.producer(x);
      g.remove_node(i);
      auto& prod = g.mutable_node(p < i ? p : p - 1);
      for (auto& o : *prod.mutable_output())
        if (o == x) o = y;
      g.replace_uses(x, y);  // also updates the maps
      ++removed;
      again = true;
      break;
    }
  }
  return removed;
}

}  // namespace dpl::passes
