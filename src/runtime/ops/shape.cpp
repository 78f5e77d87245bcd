// Shape (with opset 15's start/end) and Size: int64 outputs describing the input's shape.
#include <algorithm>

#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"

namespace dpl {
namespace {

class ShapeOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    start_ = node.attrs.get_int("start", 0);
    has_end_ = node.attrs.has("end");
    end_ = node.attrs.get_int("end", 0);
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const int64_t r = x.rank();
    // Negative start/end count from the end; both are then clamped to [0, rank].
    auto norm = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + r : v, 0, r); };
    const int64_t s = norm(start_), e = has_end_ ? norm(end_) : r;
    const int64_t n = std::max<int64_t>(0, e - s);
    Tensor y(DType::I64, {n});
    for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = x.shape()[s + i];
    out[0] = std::move(y);
  }

 private:
  int64_t start_ = 0, end_ = 0;
  bool has_end_ = false;
};

class SizeOp : public Op {
 public:
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    out[0] = Tensor::scalar<int64_t>(in[0]->numel());
  }
};

}  // namespace

DPL_REGISTER_OP("Shape", ShapeOp);
DPL_REGISTER_OP("Size", SizeOp);

}  // namespace dpl
