// Concat: one memcpy per (outer index, input). With a single outer index (axis 0, or batch 1
// with axis 1: the usual feature-map concat) each input is one block copied in parallel
// chunks; otherwise the outer indices are split over threads. Along the channels of
// channels-last tensors (runtime/channels_last.h) it is the same copy on their memory
// [N, spatial..., C], concatenated along its last axis. In fused sessions it absorbs the
// per-tensor fake quantization of its output (a QDQ model's pair after a Concat) and quantizes
// as it copies (CopyFakeQuant).
#include "runtime/channels_last.h"
#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/fake_quant.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

class ConcatOp : public grad::MoveGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override {
    DPL_CHECK(node.attrs.has("axis"), "Concat needs the 'axis' attribute");
    axis_ = node.attrs.get_int("axis", 0);
    trace_all_inputs_ = true;
    fq_.init(node);
  }
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool ready) const override {
    return CopyFakeQuant::can_absorb(self, f, ready);
  }
  bool has_backward() const override { return !fq_.active(); }
  // Channels-last inputs along axis 1 give a channels-last output.
  bool accepts_channels_last(size_t) const override { return axis_ == 1; }

  void forward(OpContext& ctx, const std::vector<const Tensor*>& in_all, std::vector<Tensor>& out) override {
    const std::vector<const Tensor*> in(in_all.begin(), in_all.begin() + static_cast<long>(fq_.own_inputs(in_all.size())));
    std::vector<const Tensor*> xs;
    bool any_last = false;
    for (size_t k = 0; k < in.size(); ++k)
      if (in[k]) xs.push_back(in[k]), any_last = any_last || ctx.input_channels_last(k);
    DPL_CHECK(!xs.empty(), "Concat has no inputs");
    if (any_last) {
      out[0] = concat_channels_last(ctx, in, fq_);
      ctx.out_channels_last[0] = 1;
      return;
    }
    out[0] = concat(xs, axis_, fq_);
  }

 private:
  // Channels-last and plain inputs along axis 1 (the plain ones put in channels-last order
  // first): the memory views concatenated along their last axis.
  static Tensor concat_channels_last(const OpContext& ctx, const std::vector<const Tensor*>& in,
                                     const CopyFakeQuant& fq) {
    std::vector<Tensor> views;
    for (size_t k = 0; k < in.size(); ++k) {
      if (!in[k]) continue;
      const Tensor& t = *in[k];
      DPL_CHECK(t.rank() >= 3, "internal: channels-last Concat input of rank {}", t.rank());
      const Tensor last = ctx.input_channels_last(k) ? t : plain_to_channels_last(t);
      views.push_back(last.reshaped(channels_last_memory_shape(t.shape())));
    }
    std::vector<const Tensor*> xs;
    for (const Tensor& v : views) xs.push_back(&v);
    const int r = views[0].rank();
    const Tensor y = concat(xs, r - 1, fq);
    return y.reshaped(channels_last_logical_shape(y.shape()));
  }

  // The copies go through `fq` (plain copies when it is inactive).
  static Tensor concat(const std::vector<const Tensor*>& xs, int64_t axis_attr, const CopyFakeQuant& fq) {
    const Tensor& x0 = *xs[0];
    const int r = x0.rank();
    DPL_CHECK(r > 0, "Concat of scalars");
    const int axis = ops::norm_axis(axis_attr, r);
    Shape shape = x0.shape();
    shape[axis] = 0;
    for (const Tensor* t : xs) {
      DPL_CHECK(t->dtype() == x0.dtype(), "Concat inputs have different types ({} and {})", dtype_name(x0.dtype()),
                dtype_name(t->dtype()));
      bool ok = t->rank() == r;
      for (int d = 0; ok && d < r; ++d) ok = d == axis || t->dim(d) == x0.dim(d);
      DPL_CHECK(ok, "Concat on axis {}: input shapes {} and {} do not match", axis, shape_str(x0.shape()),
                shape_str(t->shape()));
      shape[axis] += t->dim(axis);
    }
    fq.check_float(x0);
    if (xs.size() == 1 && !fq.active()) return x0;
    Tensor y(x0.dtype(), shape);
    const size_t es = dtype_size(x0.dtype());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= shape[d];
    for (int d = axis + 1; d < r; ++d) inner *= shape[d];
    const size_t out_row = static_cast<size_t>(shape[axis] * inner) * es;
    std::vector<size_t> row(xs.size()), off(xs.size());
    for (size_t i = 0, o = 0; i < xs.size(); ++i) {
      row[i] = static_cast<size_t>(xs[i]->dim(axis) * inner) * es;
      off[i] = o;
      o += row[i];
    }
    char* dst = static_cast<char*>(y.raw());
    if (outer < 4 * num_threads()) {
      for (int64_t o = 0; o < outer; ++o)
        for (size_t i = 0; i < xs.size(); ++i)
          fq.parallel_copy(dst + o * out_row + off[i], static_cast<const char*>(xs[i]->raw()) + o * row[i], row[i]);
    } else {
      parallel_for(
          outer,
          [&](int64_t b, int64_t e) {
            for (int64_t o = b; o < e; ++o)
              for (size_t i = 0; i < xs.size(); ++i)
                fq.copy(dst + o * out_row + off[i], static_cast<const char*>(xs[i]->raw()) + o * row[i], row[i]);
          },
          ops::grain_for(static_cast<int64_t>(out_row)));
    }
    return y;
  }

  int64_t axis_ = 0;
  CopyFakeQuant fq_;  // inactive unless the node absorbed its output's pair
};

}  // namespace

DPL_REGISTER_OP("Concat", ConcatOp);

}  // namespace dpl
