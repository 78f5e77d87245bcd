// The fusion planner of runtime/fusion.h: single followers first, then the pattern table.
#include "runtime/fusion.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>

#include "runtime/channels_last.h"
#include "runtime/op_registry.h"
#include "runtime/pad_folding.h"

namespace dpl {
namespace {

// The graph as the planner sees it while it merges nodes.
struct PlanGraph {
  const std::vector<PlanNode>& nodes;
  const std::vector<std::vector<int>>& users;  // per slot: the nodes reading it, in order
  const PlanSlots& slots;
};

// Several nodes reading one output that together act as one follower.
struct PatternMatch {
  NodeDesc follower;       // the synthetic node offered to Op::can_absorb
  std::vector<int> nodes;  // the matched nodes: they leave the plan when absorbed
  int last = -1;           // the matched node whose outputs the absorbing node takes over
  std::vector<int> extra;  // slots of the follower's operands, appended to the absorbing node's inputs
};

// Matches the nodes `live` reading slot `out` (the only output of the node being extended).
using PatternMatcher = std::optional<PatternMatch> (*)(const PlanGraph& g, int out, const std::vector<int>& live);

// The nodes `chain` offered together as one follower of type `type` reading `out`, with the
// last one's outputs; `absorbed` lists them all (for the per-node profile).
PatternMatch chain_match(const PlanGraph& g, int out, const char* type, const std::vector<int>& chain) {
  const PlanNode& last = g.nodes[chain.back()];
  PatternMatch m;
  m.follower.name = last.desc.name;
  m.follower.op_type = type;
  m.follower.opset = last.desc.opset;
  m.follower.inputs = {g.slots.names[out]};
  m.follower.outputs = last.desc.outputs;
  for (int k : chain) m.follower.absorbed.push_back(g.nodes[k].desc);
  m.nodes = chain;
  m.last = chain.back();
  return m;
}

PatternMatch two_node_match(const PlanGraph& g, int out, const char* type, int a, int b) {
  return chain_match(g, out, type, {a, b});
}

// Node k's operands after its first (a quantization's scale and zero point) become the
// follower's, in order (omitted ones skipped).
void add_follower_operands(const PlanGraph& g, PatternMatch& m, int k) {
  const PlanNode& n = g.nodes[k];
  for (size_t i = 1; i < n.in_slots.size(); ++i)
    if (n.in_slots[i] >= 0) {
      m.extra.push_back(n.in_slots[i]);
      m.follower.inputs.push_back(g.slots.names[n.in_slots[i]]);
    }
}

// x * Sigmoid(x): a Sigmoid and a Mul reading x, the Mul also reading the Sigmoid's output
// (and nothing else reading it).
std::optional<PatternMatch> match_silu(const PlanGraph& g, int out, const std::vector<int>& live) {
  if (live.size() != 2) return std::nullopt;
  int a = live[0], b = live[1];
  if (g.nodes[a].desc.op_type != "Sigmoid") std::swap(a, b);
  const PlanNode &sg = g.nodes[a], &mul = g.nodes[b];
  if (sg.desc.op_type != "Sigmoid" || mul.desc.op_type != "Mul" || sg.out_slots.size() != 1) return std::nullopt;
  const int s = sg.out_slots[0];
  if (s < 0 || g.slots.visible[s] || g.users[s].size() != 1 || g.users[s][0] != b) return std::nullopt;
  if (mul.in_slots.size() != 2 ||
      !((mul.in_slots[0] == out && mul.in_slots[1] == s) || (mul.in_slots[1] == out && mul.in_slots[0] == s)))
    return std::nullopt;
  return two_node_match(g, out, kSwishOp, a, b);
}

// The only reader of slot s, when it reads it once and s is not visible; -1 otherwise.
int sole_reader(const PlanGraph& g, int s) {
  if (s < 0 || g.slots.visible[s] || g.users[s].size() != 1) return -1;
  const int r = g.users[s][0];
  return std::count(g.nodes[r].in_slots.begin(), g.nodes[r].in_slots.end(), s) == 1 ? r : -1;
}

// v * FakeQuant(Sigmoid(v)) (kQuantizedSwishOp): a Sigmoid and a Mul reading v = `out`, the
// Sigmoid's output read only by a QuantizeLinear, its output only by a DequantizeLinear (as
// its input 0), whose output only the Mul reads, as its other operand.
std::optional<PatternMatch> match_quantized_silu(const PlanGraph& g, int out, const std::vector<int>& live) {
  if (live.size() != 2) return std::nullopt;
  int a = live[0], b = live[1];
  if (g.nodes[a].desc.op_type != "Sigmoid") std::swap(a, b);
  const PlanNode &sg = g.nodes[a], &mul = g.nodes[b];
  if (sg.desc.op_type != "Sigmoid" || mul.desc.op_type != "Mul" || sg.out_slots.size() != 1 ||
      mul.in_slots.size() != 2 || mul.out_slots.size() != 1)
    return std::nullopt;
  const int q = sole_reader(g, sg.out_slots[0]);
  if (q < 0 || g.nodes[q].desc.op_type != "QuantizeLinear" || g.nodes[q].out_slots.size() != 1 ||
      g.nodes[q].in_slots[0] != sg.out_slots[0])
    return std::nullopt;
  const int dq = sole_reader(g, g.nodes[q].out_slots[0]);
  if (dq < 0 || g.nodes[dq].desc.op_type != "DequantizeLinear" || g.nodes[dq].out_slots.size() != 1 ||
      g.nodes[dq].in_slots[0] != g.nodes[q].out_slots[0])
    return std::nullopt;
  const int d = g.nodes[dq].out_slots[0];
  if (sole_reader(g, d) != b) return std::nullopt;
  if (!((mul.in_slots[0] == out && mul.in_slots[1] == d) || (mul.in_slots[1] == out && mul.in_slots[0] == d)))
    return std::nullopt;
  PatternMatch m = chain_match(g, out, kQuantizedSwishOp, {a, q, dq, b});
  add_follower_operands(g, m, q);
  add_follower_operands(g, m, dq);
  return m;
}

// QuantizeLinear -> DequantizeLinear: the one node reading `out` is a QuantizeLinear whose
// output only a DequantizeLinear reads (once), and is not visible.
std::optional<PatternMatch> match_quant_dequant(const PlanGraph& g, int out, const std::vector<int>& live) {
  if (live.size() != 1) return std::nullopt;
  const PlanNode& q = g.nodes[live[0]];
  if (q.desc.op_type != "QuantizeLinear" || q.out_slots.size() != 1 || q.in_slots.empty() || q.in_slots[0] != out)
    return std::nullopt;
  const int qs = q.out_slots[0];
  if (qs < 0 || g.slots.visible[qs] || g.users[qs].size() != 1) return std::nullopt;
  const PlanNode& dq = g.nodes[g.users[qs][0]];
  if (dq.desc.op_type != "DequantizeLinear" || dq.in_slots.empty() || dq.in_slots[0] != qs) return std::nullopt;
  for (size_t k = 1; k < dq.in_slots.size(); ++k)
    if (dq.in_slots[k] == qs) return std::nullopt;
  // A quantized SiLU reading the pair's output is the QuantizeLinear's to take with the pair
  // (fake_quant_silu: the whole chain as one lookup); the node before it would take the pair
  // alone and leave the SiLU as separate passes.
  const int d = dq.out_slots.size() == 1 ? dq.out_slots[0] : -1;
  if (d >= 0 && match_quantized_silu(g, d, g.users[d])) return std::nullopt;
  PatternMatch m = two_node_match(g, out, kQuantDequantOp, live[0], g.users[qs][0]);
  add_follower_operands(g, m, live[0]);
  add_follower_operands(g, m, g.users[qs][0]);
  return m;
}

// Element-wise plan nodes reading `out`, each other's outputs and scalar constants, in plan
// order, up to max_nodes (a node that also reads something else is left out, and so is
// what depends on it). `fused_ok`: members may have absorbed followers themselves.
std::vector<int> element_wise_nodes(const PlanGraph& g, int out, const std::vector<int>& live, size_t max_nodes,
                                    bool fused_ok) {
  std::set<int> produced = {out}, candidates(live.begin(), live.end());
  std::vector<int> island;
  while (!candidates.empty() && island.size() < max_nodes) {
    const int u = *candidates.begin();
    candidates.erase(candidates.begin());
    const PlanNode& n = g.nodes[u];
    const bool kind_ok = fused_ok ? elementwise_node(n.desc) : elementwise_op(n.desc.op_type) && n.desc.absorbed.empty();
    if (!kind_ok || n.out_slots.size() != 1 || n.out_slots[0] < 0) continue;
    bool inputs_ok = true;
    for (int s : n.in_slots)
      inputs_ok = inputs_ok && (s < 0 || produced.count(s) || (g.slots.consts[s].defined() && g.slots.consts[s].numel() == 1));
    if (!inputs_ok) continue;
    island.push_back(u);
    produced.insert(n.out_slots[0]);
    for (int r : g.users[n.out_slots[0]]) candidates.insert(r);
  }
  return island;
}

// Whether, of the values `island` produces, exactly one is read outside it (or visible) and
// that is the last node's output.
bool single_exit(const PlanGraph& g, const std::vector<int>& island) {
  const std::set<int> members(island.begin(), island.end());
  int exits = 0;
  for (int u : island) {
    const int s = g.nodes[u].out_slots[0];
    bool leaves = g.slots.visible[s];
    for (int r : g.users[s]) leaves = leaves || !members.count(r);
    if (!leaves) continue;
    if (u != island.back()) return false;
    ++exits;
  }
  return exits == 1;
}

// The element-wise island reading `out` (kCodeLookupOp): nodes whose every input is `out`, an
// earlier island output or a scalar constant, taken in plan order up to kMaxNodes; exactly
// one island tensor may be read outside it (or be visible), and it must be the last node's,
// whose output the follower takes over; every reader of `out` is in it (the absorbing
// DequantizeLinear's output disappears); at least one QuantizeLinear or two nodes (a single
// cheap node gains nothing from a table).
std::optional<PatternMatch> match_code_lookup(const PlanGraph& g, int out, const std::vector<int>& live) {
  constexpr size_t kMaxNodes = 8;
  if (live.empty()) return std::nullopt;
  const std::vector<int> island = element_wise_nodes(g, out, live, kMaxNodes, false);
  if (island.empty() || !single_exit(g, island)) return std::nullopt;
  for (int r : g.users[out])
    if (std::find(island.begin(), island.end(), r) == island.end()) return std::nullopt;
  bool has_quantize = false;
  for (int u : island) has_quantize = has_quantize || g.nodes[u].desc.op_type == "QuantizeLinear";
  if (!has_quantize && island.size() < 2) return std::nullopt;
  PatternMatch m;
  const PlanNode& last = g.nodes[island.back()];
  m.follower.name = last.desc.name;
  m.follower.op_type = kCodeLookupOp;
  m.follower.opset = last.desc.opset;
  m.follower.inputs = {g.slots.names[out]};
  m.follower.outputs = last.desc.outputs;
  for (int u : island) m.follower.absorbed.push_back(g.nodes[u].desc);
  m.nodes = island;
  m.last = island.back();
  return m;
}

// Multi-node followers, tried in order after the single-follower case.
constexpr PatternMatcher kPatterns[] = {match_silu, match_quantized_silu, match_quant_dequant, match_code_lookup};

class FusionPlanner {
 public:
  FusionPlanner(std::vector<PlanNode> nodes, const PlanSlots& slots)
      : nodes_(std::move(nodes)),
        slots_(slots),
        producer_(slots.names.size(), -1),
        users_(slots.names.size()),
        removed_(nodes_.size(), 0) {
    for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
      for (int s : nodes_[i].out_slots)
        if (s >= 0) producer_[s] = i;
      for (int s : nodes_[i].in_slots)
        if (s >= 0 && (users_[s].empty() || users_[s].back() != i)) users_[s].push_back(i);
    }
  }

  std::vector<PlanNode> plan() && {
    for (int i = 0; i < static_cast<int>(nodes_.size()); ++i)
      if (!removed_[i])
        while (extend(i)) {
        }
    std::vector<PlanNode> kept;
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (!removed_[i]) kept.push_back(std::move(nodes_[i]));
    return kept;
  }

 private:
  // Lets node i absorb what reads its single output; false when nothing more can be taken.
  bool extend(int i) {
    const PlanNode& nr = nodes_[i];
    if (nr.out_slots.size() != 1 || nr.out_slots[0] < 0) return false;
    const int out = nr.out_slots[0];
    if (slots_.visible[out]) return false;
    std::vector<int> live;
    for (int u : users_[out])
      if (!removed_[u]) live.push_back(u);
    const PlanNode* f = live.size() == 1 ? &nodes_[live[0]] : nullptr;
    if (f && std::count(f->in_slots.begin(), f->in_slots.end(), out) == 1 && !f->out_slots.empty() &&
        absorb_follower(i, live[0]))
      return true;
    const PlanGraph g{nodes_, users_, slots_};
    for (PatternMatcher match : kPatterns) {
      std::optional<PatternMatch> m = match(g, out, live);
      if (m && nr.op->can_absorb(nr.desc, m->follower, ready(i, m->extra))) {
        absorb_pattern(i, *m);
        return true;
      }
    }
    return false;
  }

  // Node i absorbs node fi, the one node reading its output (once).
  bool absorb_follower(int i, int fi) {
    PlanNode &nr = nodes_[i], &f = nodes_[fi];
    const int out = nr.out_slots[0];
    std::vector<int> extra;
    for (int s : f.in_slots)
      if (s != out && s >= 0) extra.push_back(s);
    if (!nr.op->can_absorb(nr.desc, f.desc, ready(i, extra))) return false;
    nr.desc.absorbed.push_back(f.desc);
    append_operands(i, extra);
    take_outputs(i, f);
    removed_[fi] = 1;
    return true;
  }

  void absorb_pattern(int i, const PatternMatch& m) {
    nodes_[i].desc.absorbed.push_back(m.follower);
    append_operands(i, m.extra);
    take_outputs(i, nodes_[m.last]);
    for (int k : m.nodes) removed_[k] = 1;
  }

  // Whether the operands `extra` of a follower exist when node i runs.
  bool ready(int i, const std::vector<int>& extra) const {
    for (int s : extra)
      if (!slots_.consts[s].defined() && producer_[s] >= i) return false;
    return true;
  }

  // The follower's other operands become inputs of node i.
  void append_operands(int i, const std::vector<int>& extra) {
    PlanNode& nr = nodes_[i];
    for (int s : extra) {
      nr.in_slots.push_back(s);
      nr.desc.inputs.push_back(slots_.names[s]);
      nr.desc.const_inputs.push_back(slots_.consts[s].defined() ? &slots_.consts[s] : nullptr);
    }
  }

  // Node i now produces what `from` produced.
  void take_outputs(int i, const PlanNode& from) {
    nodes_[i].out_slots = from.out_slots;
    nodes_[i].desc.outputs = from.desc.outputs;
    for (int s : from.out_slots)
      if (s >= 0) producer_[s] = i;
  }

  std::vector<PlanNode> nodes_;
  const PlanSlots& slots_;
  std::vector<int> producer_;
  std::vector<std::vector<int>> users_;
  std::vector<char> removed_;
};

// Element-wise islands (kElementwiseIslandOp) in a fused plan: for each node in order, the
// element-wise nodes reading its output, each other's and scalar constants (at most
// kMaxNodes), shortened until one value leaves them, the last one's; two nodes or more
// become one island node in the last one's place (every input of the island exists there,
// and nothing between reads its values).
std::vector<PlanNode> form_islands(std::vector<PlanNode> nodes, const PlanSlots& slots) {
  constexpr size_t kMaxNodes = 32;
  std::vector<std::vector<int>> users(slots.names.size());
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i)
    for (int s : nodes[i].in_slots)
      if (s >= 0 && (users[s].empty() || users[s].back() != i)) users[s].push_back(i);
  std::vector<char> removed(nodes.size(), 0);
  for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
    if (removed[i] || nodes[i].out_slots.size() != 1 || nodes[i].out_slots[0] < 0) continue;
    const int out = nodes[i].out_slots[0];
    std::vector<int> live;
    for (int u : users[out])
      if (!removed[u]) live.push_back(u);
    const PlanGraph g{nodes, users, slots};
    std::vector<int> island = element_wise_nodes(g, out, live, kMaxNodes, true);
    while (island.size() >= 2 && !single_exit(g, island)) island.pop_back();
    if (island.size() < 2) continue;
    PlanNode& last = nodes[island.back()];
    PlanNode merged;
    merged.desc.name = last.desc.name;
    merged.desc.op_type = kElementwiseIslandOp;
    merged.desc.opset = last.desc.opset;
    merged.desc.inputs = {slots.names[out]};
    merged.desc.const_inputs = {nullptr};
    merged.desc.outputs = last.desc.outputs;
    merged.desc.own_inputs = 1;
    for (int u : island) merged.desc.absorbed.push_back(nodes[u].desc);
    merged.in_slots = {out};
    merged.out_slots = last.out_slots;
    merged.op = OpRegistry::instance().create(kElementwiseIslandOp);
    for (int u : island) removed[u] = 1;
    removed[island.back()] = 0;
    last = std::move(merged);
    users[out].push_back(island.back());
    std::sort(users[out].begin(), users[out].end());
    users[out].erase(std::unique(users[out].begin(), users[out].end()), users[out].end());
  }
  std::vector<PlanNode> kept;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(nodes[i]));
  return kept;
}

}  // namespace

std::vector<PlanNode> plan_fusion(std::vector<PlanNode> nodes, const PlanSlots& slots) {
  fold_pads_into_convs(nodes, slots);
  return form_islands(FusionPlanner(std::move(nodes), slots).plan(), slots);
}

}  // namespace dpl
