// ConvGrad (conv_grad.h): dL/dX on convolution_backward_data (deconvolution_ for
// ConvTranspose), dL/dW and dL/dB on convolution_backward_weights, each built with the
// forward-training primitive descriptor of the same shapes as its hint. Activations and
// weights are reordered between the ONNX layouts and the ones oneDNN picked; the buffers
// for the reordered tensors belong to the entry, so a training loop allocates nothing.
#include "runtime/ops/conv_grad.h"

#include <algorithm>
#include <unordered_map>

#include "runtime/dnnl_util.h"
#include "runtime/ops/grad_util.h"
#include "runtime/parallel.h"

namespace dpl {

using dnn::Dims;
using dnn::memory;

namespace {

// A tensor in a primitive's layout: the ONNX one wrapped, or a buffer of the entry with the
// reorder into (or out of) it.
struct Staged {
  memory::desc md;
  dnnl::reorder r;
  memory buf;
  void build(const memory::desc& user, const memory::desc& want, bool to_user) {
    md = want;
    if (want == user) return;
    r = to_user ? dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), want, dnn::engine(), user))
                : dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), user, dnn::engine(), want));
    buf = memory(want, dnn::engine());
  }
  // The primitive's view of `user` (reordered in when needed).
  memory in(const memory& user) {
    if (!r) return user;
    r.execute(dnn::stream(), const_cast<memory&>(user), buf);
    return buf;
  }
  memory out(const memory& user) { return r ? buf : user; }
  void back(const memory& user) {
    if (r) r.execute(dnn::stream(), buf, const_cast<memory&>(user));
  }
};

// A 1x1 convolution, stride 1, no padding, one group, on plain NCHW tensors: dL/dW is the sum
// over images of dL/dY_n [M, HW] times X_n [C, HW] transposed, a GEMM with a long inner
// dimension. oneDNN's backward-weights primitive (jit_1x1) parallelises that shape poorly:
// 280 ms against 10 ms for the GEMMs on YOLOX-Nano's 16 -> 32 1x1 at 104 x 104, batch 32
// (docs/benchmarks.md, "AdaRound iteration time").
bool plain_1x1(const ConvParams& p, const ConvGeometry& g) {
  if (p.transposed || g.G != 1) return false;
  for (int i = 0; i < g.nsp; ++i)
    if (g.kernel[i] != 1 || g.strides[i] != 1 || g.pads_begin[i] != 0 || g.pads_end[i] != 0) return false;
  return true;
}

void weights_grad_1x1(const ConvGeometry& g, const Tensor& x, const Tensor& dy, Tensor& dw) {
  int64_t hw = 1;
  for (int i = 0; i < g.nsp; ++i) hw *= g.in[i];
  const float* px = x.data<float>();
  const float* pd = dy.data<float>();
  float* pw = dw.data<float>();
  for (int64_t n = 0; n < g.N; ++n) {
    const dnnl_status_t st = dnnl_sgemm('N', 'T', g.M, g.C, hw, 1.f, pd + n * g.M * hw, hw, px + n * g.C * hw, hw,
                                        n == 0 ? 0.f : 1.f, pw, g.C);
    DPL_CHECK(st == dnnl_success, "1x1 convolution backward: oneDNN's sgemm failed ({})", static_cast<int>(st));
  }
}

// dL/dY restricted to what the forward's primitive computed (ConvGeometry::needs_expand):
// (N, M, prim_out...), each position read where expanded_index placed it, zero outside.
Tensor primitive_window(const ConvGeometry& g, const Tensor& dy) {
  Shape ps = {g.N, g.M};
  ps.insert(ps.end(), g.prim_out.begin(), g.prim_out.end());
  Tensor w = Tensor::zeros(DType::F32, ps);
  int64_t out_sp = 1, prim_sp = 1;
  for (int i = 0; i < g.nsp; ++i) out_sp *= g.out[i], prim_sp *= g.prim_out[i];
  const float* pd = dy.data<float>();
  float* pw = w.data<float>();
  parallel_for(g.N * g.M, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t q = 0; q < prim_sp; ++q) {
        const int64_t off = expanded_index(g, q);
        if (off >= 0) pw[c * prim_sp + q] = pd[c * out_sp + off];
      }
  }, 1);
  return w;
}

}  // namespace

struct ConvGrad::Entry {
  Shape x_shape, w_shape;
  int threads = 1;
  bool bias = false;
  ConvGeometry g;
  memory::desc user_src, user_dst, user_wei, bias_md;
  // backward data: diff_src <- diff_dst, weights
  dnnl::primitive bwd_data;
  Staged bd_diff_src, bd_wei, bd_diff_dst;
  // backward weights: diff_weights (+ diff_bias) <- src, diff_dst
  dnnl::primitive bwd_wei;
  Staged bw_src, bw_diff_wei, bw_diff_dst;
};

ConvGrad::ConvGrad() = default;
ConvGrad::~ConvGrad() = default;

ConvGrad::Entry& ConvGrad::entry_for(const ConvParams& p, const Shape& x, const Shape& w, bool want_bias) {
  const int threads = num_threads();
  for (size_t i = 0; i < cache_.size(); ++i) {
    Entry& e = *cache_[i];
    if (e.threads == threads && e.x_shape == x && e.w_shape == w && e.bias == want_bias) {
      std::rotate(cache_.begin(), cache_.begin() + static_cast<long>(i), cache_.begin() + static_cast<long>(i) + 1);
      return *cache_[0];
    }
  }
  auto e = std::make_unique<Entry>();
  e->x_shape = x, e->w_shape = w, e->threads = threads, e->bias = want_bias;
  e->g = conv_geometry(p, x, w);
  const ConvGeometry& g = e->g;
  const auto f32 = memory::data_type::f32;
  Dims dst_dims = {g.N, g.M};
  dst_dims.insert(dst_dims.end(), g.prim_out.begin(), g.prim_out.end());
  e->user_src = dnn::plain_desc(dnn::to_dims(x), f32);
  e->user_dst = dnn::plain_desc(dst_dims, f32);
  e->user_wei = user_weight_desc(p, g);
  e->bias_md = dnn::plain_desc(Dims{g.M}, f32);
  const memory::desc src_any(dnn::to_dims(x), f32, memory::format_tag::any);
  const memory::desc dst_any(dst_dims, f32, memory::format_tag::any);
  const memory::desc wei_any(e->user_wei.dims(), f32, memory::format_tag::any);

  Dims strides(g.strides.begin(), g.strides.end()), dil(g.nsp), pl(g.nsp), pr(g.nsp);
  for (int i = 0; i < g.nsp; ++i) {
    dil[i] = g.dilations[i] - 1;
    pl[i] = g.pads_begin[i];
    pr[i] = g.pads_end[i];
    if (p.transposed) {  // the primitive's pads, as the forward computes them
      const int64_t full = g.strides[i] * (g.in[i] - 1) + (g.kernel[i] - 1) * g.dilations[i] + 1;
      pl[i] = std::max<int64_t>(g.pads_begin[i], 0);
      pr[i] = full - pl[i] - g.prim_out[i];
    }
  }
  const auto train = dnnl::prop_kind::forward_training;
  auto build = [&](auto fwd_tag, auto bwd_data_tag, auto bwd_wei_tag, dnnl::algorithm alg) {
    using F = decltype(fwd_tag);
    using BD = decltype(bwd_data_tag);
    using BW = decltype(bwd_wei_tag);
    typename F::desc fd = want_bias ? typename F::desc(train, alg, src_any, wei_any, e->bias_md, dst_any, strides, dil, pl, pr)
                                    : typename F::desc(train, alg, src_any, wei_any, dst_any, strides, dil, pl, pr);
    typename F::primitive_desc hint(fd, dnn::engine());
    typename BD::primitive_desc bd(typename BD::desc(alg, src_any, wei_any, dst_any, strides, dil, pl, pr),
                                   dnn::engine(), hint);
    e->bwd_data = BD(bd);
    e->bd_diff_src.build(e->user_src, bd.diff_src_desc(), true);
    e->bd_wei.build(e->user_wei, bd.weights_desc(), false);
    e->bd_diff_dst.build(e->user_dst, bd.diff_dst_desc(), false);
    typename BW::primitive_desc bw(
        want_bias ? typename BW::desc(alg, src_any, wei_any, e->bias_md, dst_any, strides, dil, pl, pr)
                  : typename BW::desc(alg, src_any, wei_any, dst_any, strides, dil, pl, pr),
        dnn::engine(), hint);
    e->bwd_wei = BW(bw);
    e->bw_src.build(e->user_src, bw.src_desc(), false);
    e->bw_diff_wei.build(e->user_wei, bw.diff_weights_desc(), true);
    e->bw_diff_dst.build(e->user_dst, bw.diff_dst_desc(), false);
  };
  try {
    if (!p.transposed)
      build(dnnl::convolution_forward(), dnnl::convolution_backward_data(), dnnl::convolution_backward_weights(),
            dnnl::algorithm::convolution_direct);
    else
      build(dnnl::deconvolution_forward(), dnnl::deconvolution_backward_data(),
            dnnl::deconvolution_backward_weights(), dnnl::algorithm::deconvolution_direct);
  } catch (const dnnl::error& err) {
    fail("{}: oneDNN cannot build the backward primitives for X {} W {} ({})", p.op_name, shape_str(x), shape_str(w),
         err.what());
  }
  constexpr size_t kMaxEntries = 4;
  cache_.insert(cache_.begin(), std::move(e));
  if (cache_.size() > kMaxEntries) cache_.pop_back();
  return *cache_[0];
}

void ConvGrad::run(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx, Tensor* dw,
                   Tensor* db) {
  DPL_CHECK(p.post_ops.empty(), "{}: no backward pass for a convolution with fused operators", p.op_name);
  DPL_CHECK(x.dtype() == DType::F32 && w.dtype() == DType::F32 && dy.dtype() == DType::F32,
            "{} backward supports float32 only", p.op_name);
  dnn::sync_threads();
  // The bias gradient comes with the weights' primitive; alone it is a plain sum.
  Entry* ep = &entry_for(p, x.shape(), w.shape(), dw && db);
  // A ConvTranspose output_shape beyond the natural output: the primitives see the window the
  // forward's primitive computed (its gradient cut out of dL/dY); the bias, added everywhere,
  // gets the plain sum over all of dL/dY.
  if (ep->g.needs_expand && dw && db) ep = &entry_for(p, x.shape(), w.shape(), false);
  Entry& e = *ep;
  const ConvGeometry& g = e.g;
  DPL_CHECK(dy.shape() == g.y_shape, "{} backward: dL/dY has shape {}, the output {}", p.op_name,
            shape_str(dy.shape()), shape_str(g.y_shape));
  bool bias_by_primitive = dw && db && !g.needs_expand;
  const Tensor dy_prim = g.needs_expand ? primitive_window(g, dy) : dy;
  dnnl::stream& s = dnn::stream();
  const memory dy_user = dnn::wrap(dy_prim, e.user_dst);
  if (dw && plain_1x1(p, g)) {
    *dw = Tensor(DType::F32, w.shape());
    weights_grad_1x1(g, x, dy_prim, *dw);
    dw = nullptr;  // done; the bias gradient is the plain sum below
    bias_by_primitive = false;
  }
  if (dx) {
    *dx = Tensor(DType::F32, x.shape());
    const memory dx_user(e.user_src, dnn::engine(), dx->raw());
    const memory w_user(e.user_wei, dnn::engine(), const_cast<void*>(w.raw()));
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, e.bd_diff_dst.in(dy_user)},
                                         {DNNL_ARG_WEIGHTS, e.bd_wei.in(w_user)},
                                         {DNNL_ARG_DIFF_SRC, e.bd_diff_src.out(dx_user)}};
    e.bwd_data.execute(s, args);
    e.bd_diff_src.back(dx_user);
  }
  if (dw) {
    *dw = Tensor(DType::F32, w.shape());
    const memory dw_user(e.user_wei, dnn::engine(), dw->raw());
    const memory x_user = dnn::wrap(x, e.user_src);
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, e.bw_diff_dst.in(dy_user)},
                                         {DNNL_ARG_SRC, e.bw_src.in(x_user)},
                                         {DNNL_ARG_DIFF_WEIGHTS, e.bw_diff_wei.out(dw_user)}};
    if (bias_by_primitive) {
      *db = Tensor(DType::F32, {g.M});
      args[DNNL_ARG_DIFF_BIAS] = memory(e.bias_md, dnn::engine(), db->raw());
    }
    e.bwd_wei.execute(s, args);
    e.bw_diff_wei.back(dw_user);
  }
  s.wait();
  if (db && !bias_by_primitive) {
    *db = Tensor(DType::F32, {g.M});
    const int64_t sp = dy.numel() / std::max<int64_t>(1, g.N * g.M);
    const float* pd = dy.data<float>();
    float* pb = db->data<float>();
    parallel_for(
        g.M,
        [&](int64_t m0, int64_t m1) {
          for (int64_t m = m0; m < m1; ++m) {
            double acc = 0;
            for (int64_t n = 0; n < g.N; ++n) {
              const float* r = pd + (n * g.M + m) * sp;
              float part = 0.f;
#pragma omp simd reduction(+ : part)
              for (int64_t i = 0; i < sp; ++i) part += r[i];
              acc += part;
            }
            pb[m] = static_cast<float>(acc);
          }
        },
        1);
  }
}

void conv_backward(ConvGrad& grad, const ConvParams& p, const GradArgs& args) {
  const bool wx = grad::wants(args, 0), ww = grad::wants(args, 1), wb = grad::wants(args, 2);
  if (!wx && !ww && !wb) return;
  const Tensor& x = grad::float_input(args, 0, p.op_name);
  const Tensor& w = grad::float_input(args, 1, p.op_name);
  const Tensor* dy = grad::output_grad(args, 0, p.op_name);
  Tensor dx, dw, db;
  if (dy) {
    grad.run(p, x, w, *dy, wx ? &dx : nullptr, ww ? &dw : nullptr, wb ? &db : nullptr);
  } else {
    dx = Tensor::zeros(DType::F32, x.shape());
    dw = Tensor::zeros(DType::F32, w.shape());
    if (wb) db = Tensor::zeros(DType::F32, args.inputs[2]->shape());
  }
  if (wx) args.grad_inputs[0] = dx;
  if (ww) args.grad_inputs[1] = dw;
  if (wb) args.grad_inputs[2] = db.reshaped(args.inputs[2]->shape());
}

}  // namespace dpl
