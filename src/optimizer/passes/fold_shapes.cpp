#include <algorithm>
#include <optional>

#include "optimizer/passes/passes.h"
#include "graph/node_attrs.h"

namespace dpl::passes {

namespace {

// Positions of a shape vector of length r that Gather(indices, axis 0) or Slice(axis 0)
// select, when the indices/starts/ends are constants; empty optional when unknown.
std::optional<std::vector<int64_t>> selected_positions(const OnnxGraph& g, const onnx::NodeProto& n, int64_t r) {
  auto const_vec = [&](int k) -> std::optional<std::vector<int64_t>> {
    if (n.input_size() <= k || n.input(k).empty() || !g.is_initializer(n.input(k))) return std::nullopt;
    Tensor t = g.get_initializer(n.input(k));
    if (t.dtype() != DType::I64 && t.dtype() != DType::I32) return std::nullopt;
    return t.to_i64_vector();
  };
  std::vector<int64_t> pos;
  if (n.op_type() == "Gather") {
    if (attr_int(n, "axis", 0) != 0) return std::nullopt;
    auto idx = const_vec(1);
    if (!idx) return std::nullopt;
    for (auto i : *idx) {
      if (i < 0) i += r;
      if (i < 0 || i >= r) return std::nullopt;
      pos.push_back(i);
    }
    return pos;
  }
  // Slice (opset >= 10 form): data, starts, ends, [axes], [steps].
  if (n.input_size() < 3) return std::nullopt;
  auto starts = const_vec(1), ends = const_vec(2);
  if (!starts || !ends || starts->size() != 1 || ends->size() != 1) return std::nullopt;
  if (n.input_size() > 3 && !n.input(3).empty()) {
    auto axes = const_vec(3);
    if (!axes || axes->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -1)) return std::nullopt;
  }
  int64_t step = 1;
  if (n.input_size() > 4 && !n.input(4).empty()) {
    auto steps = const_vec(4);
    if (!steps || steps->size() != 1 || (*steps)[0] == 0) return std::nullopt;
    step = (*steps)[0];
  }
  int64_t b = (*starts)[0], e = (*ends)[0];
  if (b < 0) b += r;
  if (e < 0) e += r;
  if (step > 0) {
    b = std::clamp<int64_t>(b, 0, r);
    e = std::clamp<int64_t>(e, 0, r);
    for (int64_t i = b; i < e; i += step) pos.push_back(i);
  } else {
    b = std::clamp<int64_t>(b, -1, r - 1);
    e = std::clamp<int64_t>(e, -1, r - 1);
    for (int64_t i = b; i > e; i += step) pos.push_back(i);
  }
  return pos;
}

// Gather/Slice reading known dimensions straight from a Shape node: the exporters' way of
// taking one dimension, which must fold even when other dimensions stay symbolic.
int fold_partial_shapes(OnnxGraph& g) {
  std::vector<char> remove(g.node_count(), 0);
  int folded = 0;
  for (int i = 0; i < g.node_count(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    const bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!std_domain || (n.op_type() != "Gather" && n.op_type() != "Slice") || n.input_size() < 2 ||
        n.output_size() != 1 || g.is_network_output(n.output(0)) || g.is_initializer(n.output(0)))
      continue;
    const int p = g.producer(n.input(0));
    if (p < 0) continue;
    const auto& sh = g.node(p);
    if (sh.op_type() != "Shape" || sh.input_size() != 1 || !(sh.domain().empty() || sh.domain() == "ai.onnx")) continue;
    auto shape = g.tensor_shape(sh.input(0));
    if (!shape) continue;
    const int64_t r = static_cast<int64_t>(shape->size());
    int64_t start = attr_int(sh, "start", 0), end = attr_int(sh, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
    if (end < start) end = start;
    Shape dims(shape->begin() + start, shape->begin() + end);
    auto pos = selected_positions(g, n, static_cast<int64_t>(dims.size()));
    if (!pos) continue;
    std::vector<int64_t> vals;
    for (auto k : *pos) {
      if (dims[k] < 0) break;
      vals.push_back(dims[k]);
    }
    if (vals.size() != pos->size()) continue;
    Tensor t;
    if (n.op_type() == "Gather" && g.is_initializer(n.input(1)) && g.initializer_proto(n.input(1))->dims_size() == 0)
      t = Tensor::scalar<int64_t>(vals[0]);  // scalar index: scalar result
    else if (n.op_type() == "Gather")
      t = Tensor::from_vector<int64_t>(g.get_initializer(n.input(1)).shape(), vals);
    else
      t = Tensor::from_vector<int64_t>({static_cast<int64_t>(vals.size())}, vals);
    g.set_initializer(n.output(0), t);
    remove[i] = 1;
    ++folded;
  }
  if (folded) g.remove_nodes(remove);
  return folded;
}

}  // namespace

int fold_shapes(OnnxGraph& g) {
  int partial = fold_partial_shapes(g);
  std::vector<char> remove(g.node_count(), 0);
  int folded = 0;
  for (int i = 0; i < g.node_count(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    const bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!std_domain || (n.op_type() != "Shape" && n.op_type() != "Size")) continue;
    if (n.input_size() != 1 || n.output_size() != 1 || g.is_network_output(n.output(0)) ||
        g.is_initializer(n.output(0)))
      continue;
    auto shape = g.tensor_shape(n.input(0));
    if (!shape) continue;
    const int64_t r = static_cast<int64_t>(shape->size());
    int64_t start = 0, end = r;
    if (n.op_type() == "Shape") {
      // Opset 15: the slice [start, end) of the shape, negative values from the back, clamped.
      start = attr_int(n, "start", 0);
      end = attr_int(n, "end", r);
      if (start < 0) start += r;
      if (end < 0) end += r;
      start = std::clamp<int64_t>(start, 0, r);
      end = std::clamp<int64_t>(end, 0, r);
      if (end < start) end = start;
    }
    bool known = true;
    for (int64_t d = start; d < end; ++d) known = known && (*shape)[d] >= 0;
    if (!known) continue;
    Tensor t;
    if (n.op_type() == "Shape") {
      t = Tensor(DType::I64, {end - start});
      for (int64_t d = start; d < end; ++d) t.data<int64_t>()[d - start] = (*shape)[d];
    } else {
      t = Tensor::scalar<int64_t>(shape_numel(*shape));
    }
    g.set_initializer(n.output(0), t);
    remove[i] = 1;
    ++folded;
  }
  if (folded) g.remove_nodes(remove);
  return folded + partial;
}

}  // namespace dpl::passes
