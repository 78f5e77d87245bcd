#include "runtime/channels_last.h"

#include <set>
#include <string>

#include "runtime/fusion.h"
#include "runtime/ops/data_movement.h"

namespace dpl {

namespace {

// perm for [N, C, s...] -> [N, s..., C] (to_last) or back.
std::vector<int64_t> perm(int rank, bool to_last) {
  std::vector<int64_t> p = {0};
  if (to_last) {
    for (int k = 2; k < rank; ++k) p.push_back(k);
    p.push_back(1);
  } else {
    p.push_back(rank - 1);
    for (int k = 1; k < rank - 1; ++k) p.push_back(k);
  }
  return p;
}

}  // namespace

bool elementwise_op(const std::string& op_type) {
  static const std::set<std::string> ops = {
      "Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "Identity", "Abs", "Neg",
      "Exp", "Sqrt", "Erf", "Softplus", "Elu", "Selu", "Mul", "Add", "Sub", "Div", "Max", "Min", "Sum",
      "QuantizeLinear", "DequantizeLinear"};
  return ops.count(op_type) != 0;
}

bool elementwise_node(const NodeDesc& n) {
  // So are a code lookup (fusion.h: its absorbed nodes, all element-wise), the fused SiLU
  // and the QDQ patterns offered as one follower (fusion.h).
  if (!elementwise_op(n.op_type) && n.op_type != kCodeLookupOp && n.op_type != kSwishOp && n.op_type != kQuantDequantOp &&
      n.op_type != kQuantizedSwishOp && n.op_type != kElementwiseIslandOp)
    return false;
  for (const auto& a : n.absorbed)
    if (!elementwise_node(a)) return false;
  return true;
}

Shape channels_last_memory_shape(const Shape& s) {
  Shape mem = {s[0]};
  mem.insert(mem.end(), s.begin() + 2, s.end());
  mem.push_back(s[1]);
  return mem;
}

Shape channels_last_logical_shape(const Shape& mem) {
  Shape s = {mem[0], mem.back()};
  s.insert(s.end(), mem.begin() + 1, mem.end() - 1);
  return s;
}

std::optional<Shape> per_channel_memory_shape(const Shape& s, int r) {
  if (static_cast<int>(s.size()) > r || r < 3) return std::nullopt;
  Shape p(static_cast<size_t>(r) - s.size(), 1);
  p.insert(p.end(), s.begin(), s.end());
  for (int d = 2; d < r; ++d)
    if (p[static_cast<size_t>(d)] != 1) return std::nullopt;
  Shape mem(static_cast<size_t>(r), 1);
  mem[0] = p[0];
  mem[static_cast<size_t>(r) - 1] = p[1];
  return mem;
}

Tensor channels_last_to_plain(const Tensor& t) {
  return ops::transpose_tensor(t.reshaped(channels_last_memory_shape(t.shape())), perm(t.rank(), false));
}

Tensor plain_to_channels_last(const Tensor& t) {
  // The result's memory is [N, s..., C]; it keeps the logical shape [N, C, s...].
  return ops::transpose_tensor(t, perm(t.rank(), true)).reshaped(t.shape());
}

bool runs_on_any_layout(const NodeDesc& n, const std::vector<const Tensor*>& inputs) {
  if (!elementwise_node(n)) return false;
  const Shape* shape = nullptr;
  for (const Tensor* t : inputs) {
    if (!t || t->numel() == 1) continue;  // absent, or a scalar parameter (scale, zero point, bound)
    if (shape && t->shape() != *shape) return false;
    shape = &t->shape();
  }
  return shape && shape->size() >= 3;
}

}  // namespace dpl
