// Backward of MaxPool, AveragePool and GlobalAveragePool (grad_kernels.h). Every (n, c)
// slice runs on its own (in parallel); inside a slice each output walks its window's
// in-bounds taps (pool_geometry.h): MaxPool sends dL/dy to the window's first maximum,
// AveragePool spreads it with the forward's divisor (count_include_pad, ceil_mode and
// dilations are all in the tables).
#include <vector>

#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/grad_util.h"
#include "runtime/parallel.h"

namespace dpl::grad {

void pool(const GradArgs& args, const std::vector<pool::Axis1D>& axes, bool is_max, const std::string& name) {
  if (!wants(args, 0)) return;
  const Tensor& x = float_input(args, 0, name);
  const Tensor* dy = output_grad(args, 0, name);
  Tensor dx = Tensor::zeros(DType::F32, x.shape());
  const int m = static_cast<int>(axes.size());
  if (dy && dy->numel() > 0) {
    int64_t in_sp = 1, out_sp = 1;
    for (const auto& a : axes) in_sp *= a.in, out_sp *= a.out;
    std::vector<int64_t> in_stride(m, 1);
    for (int i = m - 2; i >= 0; --i) in_stride[i] = in_stride[i + 1] * axes[i + 1].in;
    const int64_t slices = x.dim(0) * x.dim(1);
    const float *px = x.data<float>(), *pg = dy->data<float>();
    float* pd = dx.data<float>();
    parallel_for(
        slices,
        [&](int64_t s0, int64_t s1) {
          std::vector<int64_t> o(m), t(m);
          for (int64_t s = s0; s < s1; ++s) {
            const float* xs = px + s * in_sp;
            const float* gs = pg + s * out_sp;
            float* ds = pd + s * in_sp;
            std::fill(o.begin(), o.end(), 0);
            for (int64_t q = 0; q < out_sp; ++q) {
              // Window of output o: taps t[i] < n[o[i]] at first[o[i]] + t[i] * d.
              bool empty = false;
              double w = 1.0;
              int64_t base = 0;
              for (int i = 0; i < m; ++i) {
                empty = empty || axes[i].n[o[i]] == 0;
                w *= axes[i].inv[o[i]];
                base += axes[i].first[o[i]] * in_stride[i];
              }
              if (!empty) {
                std::fill(t.begin(), t.end(), 0);
                int64_t best = -1;
                float best_v = 0.f;
                while (true) {
                  int64_t pos = base;
                  for (int i = 0; i < m; ++i) pos += t[i] * axes[i].d * in_stride[i];
                  if (is_max) {
                    if (best < 0 || xs[pos] > best_v) best = pos, best_v = xs[pos];
                  } else {
                    ds[pos] += static_cast<float>(gs[q] * w);
                  }
                  int i = m - 1;
                  for (; i >= 0; --i) {
                    if (++t[i] < axes[i].n[o[i]]) break;
                    t[i] = 0;
                  }
                  if (i < 0) break;
                }
                if (is_max) ds[best] += gs[q];
              }
              for (int i = m - 1; i >= 0; --i) {
                if (++o[i] < axes[i].out) break;
                o[i] = 0;
              }
            }
          }
        },
        1);
  }
  args.grad_inputs[0] = dx;
}

void global_average_pool(const GradArgs& args) {
  if (!wants(args, 0)) return;
  const Tensor& x = float_input(args, 0, "GlobalAveragePool");
  const Tensor* dy = output_grad(args, 0, "GlobalAveragePool");
  Tensor dx = Tensor::zeros(DType::F32, x.shape());
  const int64_t nc = x.dim(0) * x.dim(1);
  if (dy && nc > 0) {
    const int64_t sp = x.numel() / nc;
    const float* pg = dy->data<float>();
    float* pd = dx.data<float>();
    parallel_for(nc, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) std::fill_n(pd + c * sp, sp, pg[c] / static_cast<float>(sp));
    }, 64);
  }
  args.grad_inputs[0] = dx;
}

void global_max_pool(const GradArgs& args) {
  if (!wants(args, 0)) return;
  const Tensor& x = float_input(args, 0, "GlobalMaxPool");
  const Tensor* dy = output_grad(args, 0, "GlobalMaxPool");
  Tensor dx = Tensor::zeros(DType::F32, x.shape());
  const int64_t nc = x.dim(0) * x.dim(1);
  if (dy && nc > 0 && x.numel() > 0) {
    const int64_t sp = x.numel() / nc;
    const float* px = x.data<float>();
    const float* pg = dy->data<float>();
    float* pd = dx.data<float>();
    parallel_for(nc, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        // The first maximum, as the forward's strict comparison keeps it (MaxPool's rule);
        // a NaN plane sends its gradient nowhere, as its forward output is no input value.
        const float* p = px + c * sp;
        int64_t arg = 0;
        for (int64_t i = 1; i < sp; ++i)
          if (p[i] > p[arg]) arg = i;
        pd[c * sp + arg] = pg[c];
      }
    }, 16);
  }
  args.grad_inputs[0] = dx;
}

}  // namespace dpl::grad
