#include "runtime/broadcast.h"

namespace dpl {

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t k = 0; k < r; ++k) {
    const int64_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    const int64_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da == db || db == 1) out[k] = da;
    else if (da == 1) out[k] = db;
    else fail("shapes {} and {} cannot be broadcast together", shape_str(a), shape_str(b));
  }
  return out;
}

Shape broadcast_shapes(const std::vector<Shape>& shapes) {
  DPL_CHECK(!shapes.empty(), "broadcast of no shapes");
  Shape out = shapes[0];
  for (size_t i = 1; i < shapes.size(); ++i) out = broadcast_shape(out, shapes[i]);
  return out;
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t k = 0; k < from.size(); ++k)
    if (from[k] != 1 && from[k] != to[lead + k]) return false;
  return true;
}

Shape per_axis_shape(const Shape& x, int axis) {
  const int r = static_cast<int>(x.size());
  if (axis < 0) axis += r;
  DPL_CHECK(axis >= 0 && axis < r, "axis {} out of range for shape {}", axis, shape_str(x));
  Shape s(r, 1);
  s[axis] = x[axis];
  return s;
}

BroadcastPlan::BroadcastPlan(std::initializer_list<const Shape*> inputs, const Shape& out) {
  DPL_CHECK(inputs.size() >= 1 && inputs.size() <= kMaxInputs, "BroadcastPlan takes 1 to {} inputs, got {}",
            kMaxInputs, inputs.size());
  n_in_ = static_cast<int>(inputs.size());
  numel_ = shape_numel(out);
  const int r = static_cast<int>(out.size());
  // Per output dimension, each input's element stride (0 where it is broadcast).
  std::vector<std::array<int64_t, kMaxInputs>> st(r);
  for (auto& s : st) s.fill(0);
  int i = 0;
  for (const Shape* in : inputs) {
    const Shape& s = *in;
    DPL_CHECK(broadcasts_to(s, out), "shape {} cannot be broadcast to {}", shape_str(s), shape_str(out));
    const int lead = r - static_cast<int>(s.size());
    int64_t stride = 1;
    for (int k = static_cast<int>(s.size()) - 1; k >= 0; --k) {
      st[lead + k][i] = s[k] == 1 ? 0 : stride;
      stride *= s[k];
    }
    ++i;
  }
  // Drop size-1 output dims, then merge dim d into its inner neighbour when every input
  // walks both as one (stride[d] == stride[d+1] * size[d+1], which includes both 0).
  for (int k = 0; k < r; ++k) {
    if (out[k] == 1) continue;
    if (!dims_.empty()) {
      bool merge = true;
      for (int j = 0; j < n_in_; ++j)
        if (strides_.back()[j] != st[k][j] * out[k]) merge = false;
      if (merge) {
        dims_.back() *= out[k];
        strides_.back() = st[k];
        continue;
      }
    }
    dims_.push_back(out[k]);
    strides_.push_back(st[k]);
  }
  if (dims_.empty()) {  // scalar output (or all ones)
    dims_.push_back(1);
    std::array<int64_t, kMaxInputs> z{};
    strides_.push_back(z);
  }
  for (int j = 0; j < kMaxInputs; ++j) inner_stride_[j] = j < n_in_ ? strides_.back()[j] : 0;
}

}  // namespace dpl
