// Gather on any axis; negative indices count from the end. One memcpy per (outer index,
// index) of the contiguous block after the axis; a typed loop when that block is a single
// element. Backward: the elements go back where they came from, summed where an index repeats
// (grad_util.h's traced map).
#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

class GatherOp : public grad::MoveGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override { axis_ = node.attrs.get_int("axis", 0); }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const Tensor& idx = *in[1];
    DPL_CHECK(idx.dtype() == DType::I64 || idx.dtype() == DType::I32, "Gather indices must be int32 or int64, got {}",
              dtype_name(idx.dtype()));
    DPL_CHECK(x.rank() > 0, "Gather on a scalar");
    const int axis = ops::norm_axis(axis_, x.rank());
    const int64_t dim = x.dim(axis);
    const int64_t n = idx.numel();
    std::vector<int64_t> ix(n);
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = idx.dtype() == DType::I64 ? idx.data<int64_t>()[i] : idx.data<int32_t>()[i];
      DPL_CHECK(v >= -dim && v < dim, "Gather index {} is out of range for axis {} of size {}", v, axis, dim);
      ix[i] = v < 0 ? v + dim : v;
    }
    Shape shape(x.shape().begin(), x.shape().begin() + axis);
    shape.insert(shape.end(), idx.shape().begin(), idx.shape().end());
    shape.insert(shape.end(), x.shape().begin() + axis + 1, x.shape().end());
    Tensor y(x.dtype(), shape);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= x.dim(d);
    for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
    const size_t es = dtype_size(x.dtype());
    const size_t block = static_cast<size_t>(inner) * es;
    const char* src = static_cast<const char*>(x.raw());
    char* dst = static_cast<char*>(y.raw());
    if (y.numel() > 0) {
      if (inner == 1) {
        ops::dispatch_size(es, src, dst, [&](const auto* s, auto* d) {
          parallel_for(
              outer,
              [&](int64_t b, int64_t e) {
                for (int64_t o = b; o < e; ++o)
                  for (int64_t i = 0; i < n; ++i) d[o * n + i] = s[o * dim + ix[i]];
              },
              ops::grain_for(n * static_cast<int64_t>(es)));
        });
      } else {
        parallel_for(
            outer * n,
            [&](int64_t b, int64_t e) {
              for (int64_t k = b; k < e; ++k) {
                const int64_t o = k / n, i = k % n;
                std::memcpy(dst + k * block, src + (o * dim + ix[i]) * block, block);
              }
            },
            ops::grain_for(static_cast<int64_t>(block)));
      }
    }
    out[0] = std::move(y);
  }

 private:
  int64_t axis_ = 0;
};

}  // namespace

DPL_REGISTER_OP("Gather", GatherOp);

}  // namespace dpl
