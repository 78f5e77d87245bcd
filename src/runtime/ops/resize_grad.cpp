// Backward of Resize/Upsample (grad_kernels.h): the forward is separable, y = A_last ... A_first x
// with one table per axis (resize_tables.h), so dL/dx applies each A_d transposed: every
// output position's gradient is added, with its tap weights, to the input positions it read.
// The axes are independent, so the order does not matter; rows before the axis run in
// parallel (they never write the same element).
#include <algorithm>
#include <vector>

#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/grad_util.h"
#include "runtime/parallel.h"

namespace dpl::grad {

void resize(const GradArgs& args, const std::vector<resize::AxisTable>& ax, const std::string& name) {
  if (!wants(args, 0)) return;
  const Tensor& x = float_input(args, 0, name);
  const Tensor* dy = output_grad(args, 0, name);
  if (!dy || x.numel() == 0) {
    args.grad_inputs[0] = Tensor::zeros(DType::F32, x.shape());
    return;
  }
  Tensor g = *dy;
  Shape shape = dy->shape();
  const int r = static_cast<int>(shape.size());
  for (int d = r - 1; d >= 0; --d) {
    const resize::AxisTable& t = ax[d];
    if (t.identity) continue;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; ++i) outer *= shape[i];
    for (int i = d + 1; i < r; ++i) inner *= shape[i];
    Shape next = shape;
    next[d] = t.in;
    Tensor h = Tensor::zeros(DType::F32, next);
    const float* src = g.data<float>();
    float* dst = h.data<float>();
    const int taps = t.taps;
    parallel_for(
        outer,
        [&](int64_t o0, int64_t o1) {
          for (int64_t o = o0; o < o1; ++o) {
            const float* so = src + o * t.out * inner;
            float* dd = dst + o * t.in * inner;
            for (int64_t j = 0; j < t.out; ++j) {
              if (t.outside[j]) continue;
              for (int k = 0; k < taps; ++k) {
                const float w = static_cast<float>(t.w[j * taps + k]);
                if (w == 0.f) continue;
                float* row = dd + t.idx[j * taps + k] * inner;
                const float* in_row = so + j * inner;
                for (int64_t i = 0; i < inner; ++i) row[i] += w * in_row[i];
              }
            }
          }
        },
        std::max<int64_t>(1, 4096 / std::max<int64_t>(1, t.out * inner)));
    g = h;
    shape = next;
  }
  args.grad_inputs[0] = g.shape() == x.shape() ? g : g.reshaped(x.shape());
  if (args.grad_inputs[0].shares_buffer_with(*dy)) args.grad_inputs[0] = dy->clone();
}

}  // namespace dpl::grad
