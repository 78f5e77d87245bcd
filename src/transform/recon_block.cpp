#include "transform/recon_block.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "transform/recon_layer.h"
#include "util/error.h"

namespace dpl::transform {

BlockRule parse_block_rule(const std::string& name) {
  if (name == "network") return BlockRule::Network;
  if (name == "original") return BlockRule::Original;
  fail("--recon_blocks must be 'network' or 'original', got '{}'", name);
}

bool is_weighted_layer(const OnnxGraph& g, const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  if (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul") return false;
  if (n.input_size() < 2 || n.input(0).empty() || !g.is_initializer(n.input(1))) return false;
  if (g.is_initializer(n.input(0))) return false;
  return g.initializer_proto(n.input(1))->data_type() == onnx::TensorProto::FLOAT;
}

namespace {

// Which tensors carry data from the graph inputs (activations), and which nodes compute them.
// Shape and Size read an activation but give only its shape: what they feed is treated as a
// constant helper (it belongs to whichever block reads it).
struct Dataflow {
  std::map<std::string, int> def;    // activation -> producing node (-1: graph input)
  std::vector<char> dynamic;         // per node: reads an activation
  std::map<std::string, int> last;   // activation -> last reading node (node_count: graph output)
};

Dataflow dataflow(const OnnxGraph& g) {
  Dataflow d;
  const int n = g.node_count();
  d.dynamic.assign(n, 0);
  for (const auto& in : g.network_inputs())
    if (!g.is_initializer(in)) d.def[in] = -1;
  for (int i = 0; i < n; ++i) {
    const auto& node = g.node(i);
    if (node.op_type() == "Shape" || node.op_type() == "Size") continue;
    for (const auto& in : node.input())
      if (!in.empty() && d.def.count(in)) d.dynamic[i] = 1;
    if (!d.dynamic[i]) continue;
    for (const auto& out : node.output())
      if (!out.empty()) d.def[out] = i;
  }
  for (const auto& [t, p] : d.def) {
    int last = p;
    for (int c : g.consumers(t)) last = std::max(last, c);
    if (g.is_network_output(t)) last = n;
    d.last[t] = last;
  }
  return d;
}

// A minimal closed stretch of consecutive nodes (graph order): it reads exactly one activation
// from before it, which no node after it reads, and exactly one tensor it computes is read
// after it (or is a graph output). Tensors that only pass by (a detector's long skip
// connections, read neither inside nor until much later) do not count, so the CSP blocks of a
// detector's backbone and neck close although no global single-tensor cut exists there.
struct Stretch {
  std::string in, out;
  std::vector<int> nodes;   // dynamic nodes, graph order
  std::vector<int> layers;  // weighted ones
  bool join = false;        // some node reads two or more activations
  int first = 0, last = 0;  // node index range
};

// The stretches among nodes lo..hi. `free_input` (the input of a larger stretch being divided)
// may stay alive after a stretch that reads it: the branches that all start from it become
// stretches of their own.
std::vector<Stretch> stretches(const OnnxGraph& g, const Dataflow& d, int lo, int hi, const std::string& free_input) {
  const int n = hi + 1;
  std::vector<Stretch> out;
  int a = lo;
  while (a < n) {
    if (!d.dynamic[a]) {
      ++a;
      continue;
    }
    std::set<std::string> ext, exits;
    std::map<int, std::vector<std::string>> dies;  // last reader -> tensors of the stretch
    int closed_at = -1;
    for (int i = a; i < n; ++i) {
      if (!d.dynamic[i]) continue;
      const auto& node = g.node(i);
      for (const auto& t : node.input())
        if (!t.empty() && d.def.count(t) && d.def.at(t) < a) ext.insert(t);
      if (ext.size() > 1) break;  // only grows with i: no closed stretch starts at a
      if (auto it = dies.find(i); it != dies.end())
        for (const auto& t : it->second) exits.erase(t);
      for (const auto& t : node.output()) {
        if (t.empty() || !d.def.count(t)) continue;
        const int last = d.last.at(t);
        if (last <= i) continue;
        exits.insert(t);
        dies[last].push_back(t);
      }
      bool inputs_done = ext.size() == 1;
      for (const auto& t : ext) inputs_done = inputs_done && (t == free_input || d.last.at(t) <= i);
      if (inputs_done && exits.size() == 1) {
        closed_at = i;
        break;
      }
    }
    if (closed_at < 0) {
      ++a;  // node a belongs to no stretch (it reads two activations from before, say)
      continue;
    }
    Stretch st;
    st.in = *ext.begin();
    st.out = *exits.begin();
    st.first = a;
    st.last = closed_at;
    for (int i = a; i <= closed_at; ++i) {
      if (!d.dynamic[i]) continue;
      st.nodes.push_back(i);
      if (is_weighted_layer(g, g.node(i))) st.layers.push_back(i);
      std::set<std::string> reads;
      for (const auto& t : g.node(i).input())
        if (!t.empty() && d.def.count(t)) reads.insert(t);
      st.join = st.join || reads.size() > 1;
    }
    out.push_back(std::move(st));
    a = closed_at + 1;
  }
  return out;
}

// Constant helpers (nodes that read no activation) that the block's nodes read, transitively.
void add_helpers(const OnnxGraph& g, const Dataflow& d, std::vector<int>& nodes) {
  std::vector<int> todo = nodes;
  std::vector<char> in(g.node_count(), 0);
  for (int i : nodes) in[i] = 1;
  while (!todo.empty()) {
    const int i = todo.back();
    todo.pop_back();
    for (const auto& t : g.node(i).input()) {
      if (t.empty()) continue;
      const int p = g.producer(t);
      if (p < 0 || in[p] || d.dynamic[p]) continue;
      in[p] = 1;
      nodes.push_back(p);
      todo.push_back(p);
    }
  }
  std::sort(nodes.begin(), nodes.end());
}

int axis_of(const OnnxGraph& g, const std::vector<int>& layers) {
  for (int l : layers)
    if (g.node(l).op_type() == "MatMul") return -1;
  return 1;
}

// Groups stretches into blocks (the rule in recon_block.h).
class Grouper {
 public:
  Grouper(const OnnxGraph& g, const Dataflow& d) : g_(g), d_(d) {
    for (int i = 0; i < g.node_count(); ++i)
      if (is_weighted_layer(g, g.node(i))) {
        if (first_layer_ < 0) first_layer_ = i;
        last_layer_ = i;
      }
  }

  // depth 0: the whole graph; 1: inside a joined stretch with too many layers, which is
  // divided once more with its input free; deeper joins are split into layers.
  void group(const std::vector<Stretch>& parts, int depth) {
    for (const Stretch& s : parts) {
      if (!follows(s)) close();
      if (s.layers.empty()) {
        if (open_) extend(s);
        continue;
      }
      const bool edge = std::count(s.layers.begin(), s.layers.end(), first_layer_) ||
                        std::count(s.layers.begin(), s.layers.end(), last_layer_);
      if (s.join) {
        if (static_cast<int>(s.layers.size()) <= kMaxBlockLayers) {
          start(s, "residual", false);
        } else if (depth == 0) {
          close();
          group(stretches(g_, d_, s.first, s.last, s.in), depth + 1);
          close();
        } else {
          split(s.layers);
        }
        continue;
      }
      if (s.layers.size() > 1) {  // several layers without a join (rare): one block
        start(s, "chain", false);
        continue;
      }
      if (edge) {
        start(s, "layer", false);
        continue;
      }
      if (takes_layers_ && blocks_.back().layers.size() < 3) {
        extend(s);
        if (blocks_.back().layers.size() >= 3) takes_layers_ = false;
        continue;
      }
      start(s, "chain", true);
    }
  }

  std::vector<ReconBlock>& blocks() { return blocks_; }

 private:
  void close() { open_ = takes_layers_ = false; }
  void start(const Stretch& s, const std::string& kind, bool more) {
    ReconBlock b;
    b.nodes = s.nodes;
    b.layers = s.layers;
    b.input = s.in;
    b.output = s.out;
    b.kind = kind;
    blocks_.push_back(std::move(b));
    open_ = true;
    takes_layers_ = more;
    block_last_ = s.last;
  }
  // A stretch extends the open block when it comes right after it and reads its output,
  // which nothing after the stretch reads.
  bool follows(const Stretch& s) const {
    if (!open_ || s.in != blocks_.back().output || d_.last.at(s.in) > s.last) return false;
    for (int i = block_last_ + 1; i < s.first; ++i)
      if (d_.dynamic[i]) return false;
    return true;
  }
  void extend(const Stretch& s) {
    ReconBlock& b = blocks_.back();
    b.nodes.insert(b.nodes.end(), s.nodes.begin(), s.nodes.end());
    b.layers.insert(b.layers.end(), s.layers.begin(), s.layers.end());
    b.output = s.out;
    block_last_ = s.last;
  }
  void split(const std::vector<int>& layers) {
    close();
    for (int l : layers) {
      blocks_.push_back(layer_block(g_, l));
      blocks_.back().kind = "layer of a large join";
    }
  }

  const OnnxGraph& g_;
  const Dataflow& d_;
  int first_layer_ = -1, last_layer_ = -1;
  std::vector<ReconBlock> blocks_;
  bool open_ = false;          // the last block may take the layer-free stretches after it
  bool takes_layers_ = false;  // ... and more chain layers
  int block_last_ = -1;        // last node of the open block
};

std::vector<ReconBlock> network_blocks(const OnnxGraph& g) {
  const Dataflow d = dataflow(g);
  Grouper grouper(g, d);
  grouper.group(stretches(g, d, 0, g.node_count() - 1, ""), 0);
  std::vector<ReconBlock>& blocks = grouper.blocks();
  // Layers in no stretch (reading two activations from before, say) are left to the layer
  // rule.
  std::vector<char> covered(g.node_count(), 0);
  for (const auto& b : blocks)
    for (int l : b.layers) covered[l] = 1;
  for (int i = 0; i < g.node_count(); ++i)
    if (is_weighted_layer(g, g.node(i)) && !covered[i]) blocks.push_back(layer_block(g, i));
  for (auto& b : blocks) {
    if (b.kind == "chain" && b.layers.size() == 1) b.kind = "layer";
    add_helpers(g, d, b.nodes);
    b.channel_axis = axis_of(g, b.layers);
  }
  std::stable_sort(blocks.begin(), blocks.end(),
                   [](const ReconBlock& a, const ReconBlock& b) { return a.layers.front() < b.layers.front(); });
  return std::move(blocks);
}

bool original_learnable(const std::string& op) { return op == "Conv" || op == "Gemm" || op == "ConvTranspose"; }

std::vector<ReconBlock> original_blocks(const OnnxGraph& g, const std::set<std::string>& skip) {
  std::vector<ReconBlock> blocks;
  std::vector<char> used(g.node_count(), 0);
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n0 = g.node(i);
    if (!original_learnable(n0.op_type()) || !is_weighted_layer(g, n0) || skip.count(n0.name()) || used[i]) continue;
    ReconBlock b;
    b.kind = "original chain";
    b.input = n0.input(0);
    b.nodes = {i};
    b.layers = {i};
    used[i] = 1;
    int node = i;
    std::vector<int> pending;  // Relus passed through, kept when a later layer is taken
    while (b.layers.size() < 3) {
      const std::string& out = g.node(node).output(0);
      const auto& c = g.consumers(out);
      if (c.size() != 1 || g.is_network_output(out)) break;
      const auto& next = g.node(c[0]);
      if (next.op_type() == "Relu") {
        pending.push_back(c[0]);
      } else if (original_learnable(next.op_type()) && is_weighted_layer(g, next) && next.input(0) == out) {
        b.nodes.insert(b.nodes.end(), pending.begin(), pending.end());
        pending.clear();
        b.nodes.push_back(c[0]);
        b.layers.push_back(c[0]);
        used[c[0]] = 1;
      } else {
        break;
      }
      node = c[0];
    }
    // The target: the last layer's output, after its Relu when a Relu alone reads it.
    const int last = b.layers.back();
    b.output = g.node(last).output(0);
    const auto& c = g.consumers(b.output);
    if (c.size() == 1 && !g.is_network_output(b.output) && g.node(c[0]).op_type() == "Relu") {
      b.nodes.push_back(c[0]);
      b.output = g.node(c[0]).output(0);
    }
    std::sort(b.nodes.begin(), b.nodes.end());
    b.channel_axis = 1;
    blocks.push_back(std::move(b));
  }
  return blocks;
}

}  // namespace

ReconBlock layer_block(const OnnxGraph& g, int node) {
  std::vector<ReconLayer> all = find_recon_layers(g, {});
  auto it = std::find_if(all.begin(), all.end(), [&](const ReconLayer& l) { return l.node == node; });
  DPL_CHECK(it != all.end(), "internal: node {} is not a weighted layer", node);
  ReconBlock b;
  b.nodes = it->nodes;
  b.layers = {node};
  b.input = it->input;
  b.output = it->target;
  b.kind = "layer";
  b.channel_axis = it->channel_axis;
  return b;
}

std::vector<ReconBlock> find_recon_blocks(const OnnxGraph& g, BlockRule rule, const std::set<std::string>& skip) {
  return rule == BlockRule::Network ? network_blocks(g) : original_blocks(g, skip);
}

std::string describe(const OnnxGraph& g, const ReconBlock& b) {
  std::string names;
  for (int l : b.layers) names += (names.empty() ? "" : ", ") + g.node(l).name();
  return fmt::format("{} block: {} (in '{}', out '{}')", b.kind, names, b.input, b.output);
}

}  // namespace dpl::transform
