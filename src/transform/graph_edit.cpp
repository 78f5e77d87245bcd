#include "transform/graph_edit.h"

#include <algorithm>

#include "graph/region.h"
#include "util/error.h"
#include "graph/node_attrs.h"

namespace dpl::transform {

namespace {

// Node inputs (counting repeats) that read `tensor`.
int input_uses(const OnnxGraph& g, const std::string& tensor) {
  int uses = 0;
  for (int c : g.consumers(tensor))
    for (const auto& in : g.node(c).input()) uses += in == tensor;
  return uses;
}

}  // namespace

Tensor float_init(const OnnxGraph& g, const onnx::NodeProto& node, int k) {
  if (k >= node.input_size() || node.input(k).empty() || !g.is_initializer(node.input(k))) return Tensor();
  Tensor t = g.get_initializer(node.input(k));
  return t.dtype() == DType::F32 ? t : Tensor();
}

std::string own_initializer(OnnxGraph& g, int node_index, int k, const std::string& suffix) {
  const std::string name = g.node(node_index).input(k);
  DPL_CHECK(g.is_initializer(name), "input {} of node '{}' is not an initializer", k, g.node(node_index).name());
  if (input_uses(g, name) == 1 && !g.is_network_output(name)) return name;
  const std::string copy = g.unique_tensor_name(g.node(node_index).name() + "_" + suffix);
  g.set_initializer(copy, g.get_initializer(name).clone());
  g.mutable_node(node_index).set_input(k, copy);
  g.update_maps();
  return copy;
}

void set_node_input_value(OnnxGraph& g, int node_index, int k, const Tensor& value, const std::string& suffix) {
  const auto& node = g.node(node_index);
  if (k < node.input_size() && !node.input(k).empty()) {
    g.set_initializer(own_initializer(g, node_index, k, suffix), value);
    return;
  }
  const std::string name = g.unique_tensor_name(node.name() + "_" + suffix);
  g.set_initializer(name, value);
  auto& n = g.mutable_node(node_index);
  while (n.input_size() < k) n.add_input("");
  if (n.input_size() == k)
    n.add_input(name);
  else
    n.set_input(k, name);
  g.update_maps();
}

std::vector<std::vector<int>> dependency_levels(const OnnxGraph& g, const std::vector<int>& nodes) {
  std::vector<char> selected(g.node_count(), 0);
  for (int i : nodes) selected[i] = 1;
  // depth[i]: number of selected nodes on the longest path ending at node i's inputs.
  std::vector<int> depth(g.node_count(), 0);
  int max_level = -1;
  for (int i = 0; i < g.node_count(); ++i) {
    int d = 0;
    for (const auto& in : g.node(i).input()) {
      if (in.empty()) continue;
      int p = g.producer(in);
      if (p >= 0) d = std::max(d, depth[p] + (selected[p] ? 1 : 0));
    }
    depth[i] = d;
    if (selected[i]) max_level = std::max(max_level, d);
  }
  std::vector<std::vector<int>> levels(max_level + 1);
  for (int i = 0; i < g.node_count(); ++i)
    if (selected[i]) levels[depth[i]].push_back(i);
  return levels;
}

OnnxGraph graph_up_to(const OnnxGraph& g, const std::vector<std::string>& targets) {
  Region::ExtractOptions opts;
  opts.model_inputs = true;
  return Region::up_to(g, targets).extract(opts);
}

bool single_consumer(const OnnxGraph& g, const std::string& tensor) {
  return input_uses(g, tensor) == 1 && !g.is_network_output(tensor);
}

}  // namespace dpl::transform
