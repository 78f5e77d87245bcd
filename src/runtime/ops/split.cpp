// Split: the sizes come from the 'split' input (opset 13+), the 'split' attribute (before
// 13), or are equal parts (one per output; opset 18's num_outputs allows a smaller last
// part). Each output is copied with one memcpy per outer index.
#include <optional>

#include "runtime/op_registry.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/grad_util.h"

namespace dpl {
namespace {

class SplitOp : public grad::MoveGradOp {  // backward: grad_util.h
 public:
  void init(const NodeDesc& node) override {
    axis_ = node.attrs.get_int("axis", 0);
    opset_ = node.opset;
    if (node.attrs.has("split")) split_attr_ = node.attrs.get_ints("split");
    num_outputs_ = node.attrs.get_int("num_outputs", 0);
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    DPL_CHECK(x.rank() > 0, "Split of a scalar");
    const int axis = ops::norm_axis(axis_, x.rank());
    const int64_t dim = x.dim(axis);
    const int64_t n = static_cast<int64_t>(out.size());
    std::vector<int64_t> split;
    bool given = false;
    if (in.size() > 1 && in[1]) {
      split = ops::input_ints(in[1]);
      given = !split.empty();  // an empty 'split' tensor means equal parts, as when omitted
    } else if (split_attr_) {
      split = *split_attr_;
      given = true;
    }
    if (given) {
      DPL_CHECK(static_cast<int64_t>(split.size()) == n, "Split has {} sizes for {} outputs", split.size(), n);
      int64_t sum = 0;
      for (int64_t s : split) {
        DPL_CHECK(s >= 0, "Split size {} is negative", s);
        sum += s;
      }
      DPL_CHECK(sum == dim, "Split sizes add up to {} but axis {} has {} elements", sum, axis, dim);
    } else if (dim % n == 0) {
      split.assign(n, dim / n);
    } else {
      DPL_CHECK(num_outputs_ > 0 || opset_ >= 18, "cannot split {} elements of axis {} into {} equal parts", dim, axis,
                n);
      const int64_t part = (dim + n - 1) / n;
      for (int64_t i = 0, left = dim; i < n; ++i, left -= part) split.push_back(std::max<int64_t>(0, std::min(part, left)));
    }

    const size_t es = dtype_size(x.dtype());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= x.dim(d);
    for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
    const size_t in_row = static_cast<size_t>(dim * inner) * es;
    const char* src = static_cast<const char*>(x.raw());
    int64_t start = 0;
    for (int64_t i = 0; i < n; ++i) {
      Shape shape = x.shape();
      shape[axis] = split[i];
      if (split[i] == dim) {
        out[i] = x;
      } else {
        Tensor y(x.dtype(), shape);
        const size_t row = static_cast<size_t>(split[i] * inner) * es;
        const char* s0 = src + static_cast<size_t>(start * inner) * es;
        char* dst = static_cast<char*>(y.raw());
        if (outer < 4 * num_threads()) {
          for (int64_t o = 0; o < outer; ++o) ops::parallel_memcpy(dst + o * row, s0 + o * in_row, row);
        } else {
          parallel_for(
              outer,
              [&](int64_t b, int64_t e) {
                for (int64_t o = b; o < e; ++o) std::memcpy(dst + o * row, s0 + o * in_row, row);
              },
              ops::grain_for(static_cast<int64_t>(row)));
        }
        out[i] = std::move(y);
      }
      start += split[i];
    }
  }

 private:
  int64_t axis_ = 0;
  int opset_ = 13;
  std::optional<std::vector<int64_t>> split_attr_;
  int64_t num_outputs_ = 0;
};

}  // namespace

DPL_REGISTER_OP("Split", SplitOp);

}  // namespace dpl
