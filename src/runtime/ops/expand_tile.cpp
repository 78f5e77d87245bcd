// Expand (bidirectional broadcast to a shape) and Tile, both as strided views with zero
// strides on the repeated dims, copied by strided_copy. Backward: each copy's gradient summed
// back onto its source (grad_util.h's traced map).
#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

class ExpandOp : public grad::MoveGradOp {  // backward: grad_util.h
 public:
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    Shape target = ops::input_ints(in[1]);
    const int r = std::max(x.rank(), static_cast<int>(target.size()));
    // Batch rule: a model exported with batch B may carry B as a literal first dim of the
    // target. When the data (same rank) has N = ctx.actual_batch != B rows there, and
    // neither is 1, broadcasting would fail; the first dim is then the batch and becomes N.
    // Targets that broadcast as written are never changed.
    if (static_cast<int>(target.size()) == x.rank() && x.rank() > 0 && ctx.declared_batch > 1 &&
        target[0] == ctx.declared_batch && x.dim(0) == ctx.actual_batch && ctx.actual_batch != ctx.declared_batch &&
        ctx.actual_batch != 1)
      target[0] = ctx.actual_batch;
    Shape shape(r);
    std::vector<int64_t> st(r, 0);
    const auto in_st = shape_strides(x.shape());
    for (int d = 0; d < r; ++d) {
      const int di = d - (r - x.rank()), dt = d - (r - static_cast<int>(target.size()));
      const int64_t a = di >= 0 ? x.dim(di) : 1, b = dt >= 0 ? target[dt] : 1;
      DPL_CHECK(a == b || a == 1 || b == 1, "Expand: cannot broadcast shape {} to {}", shape_str(x.shape()),
                shape_str(target));
      DPL_CHECK(b >= 0, "Expand: negative dim in shape {}", shape_str(target));
      shape[d] = a == 1 ? b : a;
      st[d] = (di >= 0 && a != 1) ? in_st[di] : 0;
    }
    if (shape_numel(shape) == x.numel()) {
      out[0] = x.reshaped(shape);
      return;
    }
    Tensor y(x.dtype(), shape);
    ops::strided_copy(y.raw(), x.raw(), shape, st, dtype_size(x.dtype()));
    out[0] = std::move(y);
  }
};

class TileOp : public grad::MoveGradOp {  // backward: grad_util.h
 public:
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const std::vector<int64_t> reps = ops::input_ints(in[1]);
    const int r = x.rank();
    DPL_CHECK(static_cast<int>(reps.size()) == r, "Tile has {} repeats for a tensor of rank {}", reps.size(), r);
    const auto in_st = shape_strides(x.shape());
    Shape shape(r), view;
    std::vector<int64_t> st;
    for (int d = 0; d < r; ++d) {
      DPL_CHECK(reps[d] >= 0, "Tile repeat {} is negative", reps[d]);
      shape[d] = x.dim(d) * reps[d];
      view.push_back(reps[d]);
      st.push_back(0);
      view.push_back(x.dim(d));
      st.push_back(in_st[d]);
    }
    if (shape == x.shape()) {
      out[0] = x;
      return;
    }
    Tensor y(x.dtype(), shape);
    ops::strided_copy(y.raw(), x.raw(), view, st, dtype_size(x.dtype()));
    out[0] = std::move(y);
  }
};

}  // namespace

DPL_REGISTER_OP("Expand", ExpandOp);
DPL_REGISTER_OP("Tile", TileOp);

}  // namespace dpl
