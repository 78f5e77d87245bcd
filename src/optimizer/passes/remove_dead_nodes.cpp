#include <vector>

#include "optimizer/passes/passes.h"

namespace dpl::passes {

std::unordered_set<std::string> subgraph_reads(const OnnxGraph& g) {
  std::unordered_set<std::string> names;
  for (const auto& n : g.graph().node()) collect_subgraph_reads(n, names);
  return names;
}

int remove_dead_nodes(OnnxGraph& g) {
  const int n = g.node_count();
  std::vector<char> live(n, 0);
  std::vector<std::string> work = g.network_outputs();
  auto reach = [&](int i) {
    if (i < 0 || live[i]) return;
    live[i] = 1;
    const auto& node = g.node(i);
    for (const auto& in : node.input())
      if (!in.empty()) work.push_back(in);
    std::unordered_set<std::string> inner;
    collect_subgraph_reads(node, inner);
    work.insert(work.end(), inner.begin(), inner.end());
  };
  while (!work.empty()) {
    std::string t = std::move(work.back());
    work.pop_back();
    reach(g.producer(t));
  }
  std::vector<char> remove(n, 0);
  int removed = 0;
  for (int i = 0; i < n; ++i)
    if (!live[i]) remove[i] = 1, ++removed;
  if (removed) g.remove_nodes(remove);
  return removed;
}

int remove_unused_initializers(OnnxGraph& g) {
  std::unordered_set<std::string> used = subgraph_reads(g);
  for (const auto& n : g.graph().node())
    for (const auto& in : n.input()) used.insert(in);
  for (const auto& o : g.graph().output()) used.insert(o.name());
  auto& gp = g.graph();
  std::unordered_set<std::string> gone;
  auto* inits = gp.mutable_initializer();
  int w = 0;
  for (int r = 0; r < inits->size(); ++r) {
    if (!used.count(inits->Get(r).name())) {
      gone.insert(inits->Get(r).name());
      continue;
    }
    if (w != r) inits->SwapElements(w, r);
    ++w;
  }
  inits->DeleteSubrange(w, inits->size() - w);
  if (gone.empty()) return 0;
  // A graph input that named a removed initializer (IR < 4 lists them) goes with it.
  auto* inputs = gp.mutable_input();
  for (int i = inputs->size() - 1; i >= 0; --i)
    if (gone.count(inputs->Get(i).name())) inputs->DeleteSubrange(i, 1);
  g.update_maps();
  return static_cast<int>(gone.size());
}

int drop_initializer_inputs(OnnxGraph& g) {
  if (g.model().ir_version() < 4) return 0;  // IR 3 requires initializers to be inputs
  auto* inputs = g.graph().mutable_input();
  int dropped = 0;
  for (int i = inputs->size() - 1; i >= 0; --i)
    if (g.is_initializer(inputs->Get(i).name())) inputs->DeleteSubrange(i, 1), ++dropped;
  if (dropped) g.update_maps();
  return dropped;
}

}  // namespace dpl::passes
