// Backward of BatchNormalization (inference form), Softmax/LogSoftmax, dpl.FakeQuantize and
// Clip (grad_kernels.h). Per-channel and per-row sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/grad_util.h"
#include "runtime/broadcast.h"
#include "runtime/parallel.h"

namespace dpl::grad {

void batch_norm(const GradArgs& args, float epsilon, const std::string& name) {
  bool any = false;
  for (size_t i = 0; i < 5; ++i) any = any || wants(args, i);
  if (!any) return;
  const std::string op = "BatchNormalization '" + name + "'";
  const Tensor& x = float_input(args, 0, op);
  const Tensor* dy = output_grad(args, 0, op);
  const int64_t n = x.dim(0), c = x.dim(1);
  const int64_t sp = n * c > 0 ? x.numel() / (n * c) : 0;
  std::vector<double> scale(c), mean(c), inv(c);
  for (int64_t k = 0; k < c; ++k) {
    scale[k] = float_input(args, 1, op).data<float>()[k];
    mean[k] = float_input(args, 3, op).data<float>()[k];
    inv[k] = 1.0 / std::sqrt(static_cast<double>(float_input(args, 4, op).data<float>()[k]) + epsilon);
  }
  // Per channel: sum of dy and of dy * x.
  std::vector<double> s_dy(c, 0.0), s_dyx(c, 0.0);
  if (dy) {
    const float *px = x.data<float>(), *pg = dy->data<float>();
    parallel_for(
        c,
        [&](int64_t c0, int64_t c1) {
          for (int64_t k = c0; k < c1; ++k)
            for (int64_t b = 0; b < n; ++b) {
              const float* gx = pg + (b * c + k) * sp;
              const float* xx = px + (b * c + k) * sp;
              float a = 0.f, ax = 0.f;
#pragma omp simd reduction(+ : a, ax)
              for (int64_t i = 0; i < sp; ++i) a += gx[i], ax += gx[i] * xx[i];
              s_dy[k] += a, s_dyx[k] += ax;
            }
        },
        1);
  }
  if (wants(args, 0)) {
    Tensor dx = Tensor::zeros(DType::F32, x.shape());
    if (dy) {
      const float* pg = dy->data<float>();
      float* pd = dx.data<float>();
      parallel_for(n * c, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float a = static_cast<float>(scale[r % c] * inv[r % c]);
          for (int64_t i = 0; i < sp; ++i) pd[r * sp + i] = pg[r * sp + i] * a;
        }
      }, 16);
    }
    args.grad_inputs[0] = dx;
  }
  // d/dscale, d/dB, d/dmean, d/dvar per channel.
  auto channel_grad = [&](size_t i, auto f) {
    if (!wants(args, i)) return;
    Tensor t(DType::F32, args.inputs[i]->shape());
    for (int64_t k = 0; k < c; ++k) t.data<float>()[k] = static_cast<float>(f(k));
    args.grad_inputs[i] = t;
  };
  auto centred = [&](int64_t k) { return s_dyx[k] - mean[k] * s_dy[k]; };  // sum dy * (x - mean)
  channel_grad(1, [&](int64_t k) { return centred(k) * inv[k]; });
  channel_grad(2, [&](int64_t k) { return s_dy[k]; });
  channel_grad(3, [&](int64_t k) { return -scale[k] * inv[k] * s_dy[k]; });
  channel_grad(4, [&](int64_t k) { return -0.5 * scale[k] * inv[k] * inv[k] * inv[k] * centred(k); });
}

void softmax(const GradArgs& args, bool log, int64_t outer, int64_t len, int64_t inner, const std::string& name) {
  if (!wants(args, 0)) return;
  const Tensor& x = float_input(args, 0, name);
  const Tensor* dy = output_grad(args, 0, name);
  Tensor dx = Tensor::zeros(DType::F32, x.shape());
  if (dy) {
    const float *py = args.outputs[0]->data<float>(), *pg = dy->data<float>();
    float* pd = dx.data<float>();
    // Softmax: dx = y * (dy - sum(dy * y)); LogSoftmax: dx = dy - exp(y) * sum(dy).
    parallel_for(outer * inner, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t base = (r / inner) * len * inner + r % inner;
        double dot = 0;
        for (int64_t j = 0; j < len; ++j) {
          const int64_t e = base + j * inner;
          dot += log ? pg[e] : double(pg[e]) * py[e];
        }
        for (int64_t j = 0; j < len; ++j) {
          const int64_t e = base + j * inner;
          pd[e] = log ? static_cast<float>(pg[e] - std::exp(double(py[e])) * dot)
                      : static_cast<float>(py[e] * (pg[e] - dot));
        }
      }
    }, 64);
  }
  args.grad_inputs[0] = dx;
}

void fake_quantize(const GradArgs& args, const std::string& name, double code_lo, double code_hi) {
  const bool wx = wants(args, 0), ws = wants(args, 1);
  if (!wx && !ws) return;
  const Tensor& x = float_input(args, 0, name);
  const Tensor& scale = float_input(args, 1, name);
  DPL_CHECK(args.inputs.size() > 2 && args.inputs[2], "{} backward: zero point missing", name);
  const Tensor& zpt = *args.inputs[2];
  double lo, hi, zp;
  if (zpt.dtype() == DType::I8) lo = -128, hi = 127, zp = zpt.data<int8_t>()[0];
  else if (zpt.dtype() == DType::U8) lo = 0, hi = 255, zp = zpt.data<uint8_t>()[0];
  else fail("{}: zero point must be int8 or uint8, got {}", name, dtype_name(zpt.dtype()));
  lo = std::max(lo, code_lo);
  hi = std::min(hi, code_hi);
  const float s = scale.data<float>()[0];
  const Tensor* dy = output_grad(args, 0, name);
  Tensor dx = Tensor::zeros(DType::F32, x.shape());
  double ds = 0;
  if (dy) {
    const float *px = x.data<float>(), *pg = dy->data<float>();
    float* pd = dx.data<float>();
    const int64_t n = x.numel();
    const int nt = n > kElementwiseGrain ? num_threads() : 1;
    std::vector<double> part(nt, 0.0);
    parallel_for(n, [&](int64_t b, int64_t e) {
      double acc = 0;
      for (int64_t i = b; i < e; ++i) {
        const double t = double(px[i]) / s;
        const double q = std::nearbyint(t) + zp;
        double g;
        if (q < lo) pd[i] = 0.f, g = lo - zp;
        else if (q > hi) pd[i] = 0.f, g = hi - zp;
        else pd[i] = pg[i], g = std::nearbyint(t) - t;
        acc += g * pg[i];
      }
      part[nt > 1 ? omp_get_thread_num() : 0] += acc;
    }, kElementwiseGrain);
    for (double p : part) ds += p;
  }
  if (wx) args.grad_inputs[0] = dx;
  if (ws) {
    Tensor t(DType::F32, scale.shape());
    t.data<float>()[0] = static_cast<float>(ds);
    args.grad_inputs[1] = t;
  }
}

void clip(const GradArgs& args, float lo, float hi) {
  const bool wx = wants(args, 0), wlo = wants(args, 1), whi = wants(args, 2);
  if (!wx && !wlo && !whi) return;
  const Tensor& x = float_input(args, 0, "Clip");
  const Tensor* dy = output_grad(args, 0, "Clip");
  Tensor dx = Tensor::zeros(DType::F32, x.shape());
  double g_lo = 0, g_hi = 0;
  if (dy) {
    const float *px = x.data<float>(), *pg = dy->data<float>();
    float* pd = dx.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      // lo > hi: every output is hi (ONNX).
      if (lo > hi) g_hi += pg[i];
      else if (px[i] < lo) g_lo += pg[i];
      else if (px[i] > hi) g_hi += pg[i];
      else pd[i] = pg[i];
    }
  }
  if (wx) args.grad_inputs[0] = dx;
  auto scalar_grad = [&](size_t i, double v) {
    Tensor t(DType::F32, args.inputs[i]->shape());
    t.data<float>()[0] = static_cast<float>(v);
    args.grad_inputs[i] = t;
  };
  if (wlo) scalar_grad(1, g_lo);
  if (whi) scalar_grad(2, g_hi);
}

}  // namespace dpl::grad
