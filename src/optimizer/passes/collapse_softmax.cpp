#include <set>

#include "optimizer/passes/passes.h"
#include "graph/node_attrs.h"

namespace dpl::passes {

namespace {

bool is_std(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// The only consumer of `t`, or -1.
int sole_consumer(const OnnxGraph& g, const std::string& t, const std::unordered_set<std::string>& sub) {
  const auto& c = g.consumers(t);
  if (c.size() != 1 || g.is_network_output(t) || sub.count(t)) return -1;
  return c[0];
}

// Does `shape_tensor` hold the shape of x (the same Shape node, or a constant equal to its
// fully known shape)?
bool is_shape_of(const OnnxGraph& g, const std::string& shape_tensor, const std::string& x, const Shape& xs) {
  const int p = g.producer(shape_tensor);
  if (p >= 0) {
    const auto& s = g.node(p);
    return is_std(s) && s.op_type() == "Shape" && s.input_size() == 1 && s.input(0) == x && !find_attr(s, "start") &&
           !find_attr(s, "end");
  }
  if (!g.is_initializer(shape_tensor)) return false;
  for (auto d : xs)
    if (d < 0) return false;
  Tensor t = g.get_initializer(shape_tensor);
  return t.dtype() == DType::I64 && t.to_i64_vector() == xs;
}

}  // namespace

int collapse_softmax_reshape(OnnxGraph& g) {
  static const std::set<std::string> kOps = {"Softmax", "LogSoftmax", "Hardmax"};
  const auto sub = subgraph_reads(g);
  int collapsed = 0;
  for (int fi = 0; fi < g.node_count(); ++fi) {
    const auto& f = g.node(fi);
    if (!is_std(f) || f.op_type() != "Flatten" || f.input_size() != 1 || f.output_size() != 1) continue;
    const std::string x = f.input(0);
    auto xs = g.tensor_shape(x);
    if (!xs || xs->empty()) continue;
    const int64_t r = static_cast<int64_t>(xs->size());
    const auto* fa = find_attr(f, "axis");
    int64_t faxis = fa ? fa->i() : 1;
    if (faxis < 0) faxis += r;
    if (faxis < 0 || faxis >= r) continue;
    // The flattened rows hold the dims [faxis, r); when all of them but one (k) are 1, the
    // operator over the rows is the operator over axis k.
    int64_t k = -1;
    bool one_axis = true;
    for (int64_t d = faxis; d < r && one_axis; ++d) {
      if ((*xs)[d] == 1) continue;
      if (k >= 0) one_axis = false;
      k = d;
    }
    if (!one_axis) continue;
    if (k < 0) k = r - 1;
    const int si = sole_consumer(g, f.output(0), sub);
    if (si < 0) continue;
    const auto& s = g.node(si);
    if (!is_std(s) || !kOps.count(s.op_type()) || s.input_size() != 1 || s.output_size() != 1) continue;
    const auto* sa = find_attr(s, "axis");
    const int64_t saxis = sa ? sa->i() : (g.opset() >= 13 ? -1 : 1);
    if (saxis != 1 && saxis != -1) continue;
    const int ri = sole_consumer(g, s.output(0), sub);
    if (ri < 0) continue;
    const auto& rn = g.node(ri);
    if (!is_std(rn) || rn.op_type() != "Reshape" || rn.input_size() != 2 || rn.input(0) != s.output(0) ||
        rn.output_size() != 1 || !is_shape_of(g, rn.input(1), x, *xs))
      continue;
    // Rewire: the operator reads x (over axis k) and writes the Reshape's output; Flatten
    // and Reshape go (the Shape node, if any, is left for dead-node removal).
    const std::string y = rn.output(0);
    auto& sm = g.mutable_node(si);
    sm.set_input(0, x);
    sm.set_output(0, y);
    set_attr(sm, "axis", static_cast<int64_t>(k == r - 1 ? -1 : k));
    std::vector<char> remove(g.node_count(), 0);
    remove[fi] = remove[ri] = 1;
    g.remove_nodes(remove);
    ++collapsed;
    fi = -1;  // indices moved: start over (such patterns are few)
  }
  return collapsed;
}

}  // namespace dpl::passes
