// The backward pass of ew::BinaryOp (Add, Sub, Mul, Div, PRelu): a functor that has
//   template <typename T> void grad(T a, T b, T y, T dy, T& da, T& db) const
// gives dL/da and dL/db per output element; they are computed over the broadcast output
// shape and summed back over the axes each operand was broadcast along (docs/training.md).
#pragma once
#include <concepts>

#include "runtime/broadcast.h"
#include "runtime/ops/grad_util.h"

namespace dpl::ew {

template <typename Fn>
inline constexpr bool has_binary_grad_v = requires(const Fn& fn, float v, float& r) {
  fn.template grad<float>(v, v, v, v, r, r);
};

template <typename Fn>
void binary_backward(const Fn& fn, const GradArgs& args) {
  const bool wa = grad::wants(args, 0), wb = grad::wants(args, 1);
  if (!wa && !wb) return;
  const Tensor& a = grad::float_input(args, 0, "binary op");
  const Tensor& b = grad::float_input(args, 1, "binary op");
  const Tensor* dy = grad::output_grad(args, 0, "binary op");
  if (!dy) {
    if (wa) args.grad_inputs[0] = Tensor::zeros(DType::F32, a.shape());
    if (wb) args.grad_inputs[1] = Tensor::zeros(DType::F32, b.shape());
    return;
  }
  const Shape& out = dy->shape();
  Tensor da(DType::F32, wa ? out : Shape{0}), db(DType::F32, wb ? out : Shape{0});
  const BroadcastPlan plan({&a.shape(), &b.shape()}, out);
  const int64_t sa = plan.scalar_in_run(0) ? 0 : 1, sb = plan.scalar_in_run(1) ? 0 : 1;
  const float *pa = a.data<float>(), *pb = b.data<float>(), *py = args.outputs[0]->data<float>(),
              *pg = dy->data<float>();
  float* pda = wa ? da.data<float>() : nullptr;
  float* pdb = wb ? db.data<float>() : nullptr;
  plan.parallel_runs([&](int64_t o, const int64_t* off, int64_t n) {
    if (sa == 1 && sb == 1 && pda && pdb) {
      // Same-shape runs wanting both gradients (SiLU's Mul in training): a loop the compiler
      // vectorizes.
      const float *ra = pa + off[0], *rb = pb + off[1], *ry = py + o, *rg = pg + o;
      float *rda = pda + o, *rdb = pdb + o;
      for (int64_t i = 0; i < n; ++i) fn.template grad<float>(ra[i], rb[i], ry[i], rg[i], rda[i], rdb[i]);
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      float ga, gb;
      fn.template grad<float>(pa[off[0] + i * sa], pb[off[1] + i * sb], py[o + i], pg[o + i], ga, gb);
      if (pda) pda[o + i] = ga;
      if (pdb) pdb[o + i] = gb;
    }
  });
  if (wa) args.grad_inputs[0] = grad::reduce_to_shape(da, a.shape());
  if (wb) args.grad_inputs[1] = grad::reduce_to_shape(db, b.shape());
}

}  // namespace dpl::ew
