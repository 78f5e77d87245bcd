// Shared pieces of the backward passes: see grad_util.h.
#include "runtime/ops/grad_util.h"

#include <algorithm>
#include <cstring>

#include "runtime/broadcast.h"
#include "runtime/parallel.h"

namespace dpl::grad {

const Tensor& float_input(const GradArgs& a, size_t i, const std::string& op) {
  DPL_CHECK(i < a.inputs.size() && a.inputs[i] && a.inputs[i]->defined(), "{} backward: input {} is missing", op, i);
  DPL_CHECK(a.inputs[i]->dtype() == DType::F32, "{} backward supports float32 only, input {} is {}", op, i,
            dtype_name(a.inputs[i]->dtype()));
  return *a.inputs[i];
}

const Tensor* output_grad(const GradArgs& a, size_t k, const std::string& op) {
  if (k >= a.grad_outputs.size() || !a.grad_outputs[k]) return nullptr;
  const Tensor* g = a.grad_outputs[k];
  DPL_CHECK(k < a.outputs.size() && a.outputs[k], "{} backward: output {} of the forward pass is missing", op, k);
  DPL_CHECK(g->dtype() == DType::F32 && g->shape() == a.outputs[k]->shape(),
            "{} backward: gradient of output {} must be float32 {}, got {} {}", op, k,
            shape_str(a.outputs[k]->shape()), dtype_name(g->dtype()), shape_str(g->shape()));
  return g;
}

Tensor reduce_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  DPL_CHECK(broadcasts_to(shape, g.shape()), "internal: gradient of shape {} does not reduce to {}",
            shape_str(g.shape()), shape_str(shape));
  const int64_t n = shape_numel(shape);
  const BroadcastPlan plan({&shape}, g.shape());
  const float* src = g.data<float>();
  // One partial sum per thread, added at the end: the runs of different threads may
  // write the same target elements.
  const int nt = plan.numel() > kElementwiseGrain ? num_threads() : 1;
  std::vector<float> part(static_cast<size_t>(nt) * static_cast<size_t>(n), 0.f);
  const bool scalar = plan.scalar_in_run(0);
  auto run = [&](float* acc, int64_t b, int64_t e) {
    plan.for_each_run(b, e, [&](int64_t o, const int64_t* off, int64_t len) {
      const float* s = src + o;
      if (scalar) {
        float sum = 0.f;
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < len; ++i) sum += s[i];
        acc[off[0]] += sum;
      } else {
        float* d = acc + off[0];
        for (int64_t i = 0; i < len; ++i) d[i] += s[i];
      }
    });
  };
  if (nt == 1) {
    run(part.data(), 0, plan.numel());
  } else {
    const int64_t total = plan.numel();
#pragma omp parallel num_threads(nt)
    {
      const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t chunk = (total + T - 1) / T;
      const int64_t b = t * chunk, e = std::min(total, b + chunk);
      if (b < e) run(part.data() + t * n, b, e);
    }
  }
  Tensor r(DType::F32, shape);
  float* d = r.data<float>();
  std::copy_n(part.data(), n, d);
  for (int t = 1; t < nt; ++t)
    for (int64_t i = 0; i < n; ++i) d[i] += part[static_cast<size_t>(t) * n + i];
  return r;
}

void accumulate(Tensor& dst, const Tensor& src) {
  DPL_CHECK(dst.shape() == src.shape() && dst.dtype() == DType::F32 && src.dtype() == DType::F32,
            "internal: accumulating a {} {} gradient into {} {}", dtype_name(src.dtype()), shape_str(src.shape()),
            dtype_name(dst.dtype()), shape_str(dst.shape()));
  float* d = dst.data<float>();
  const float* s = src.data<float>();
  parallel_for(dst.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] += s[i];
  });
}

const IndexMapGrad::Trace& IndexMapGrad::trace(Op& op, OpContext& ctx, const GradArgs& a,
                                               const std::vector<size_t>& data,
                                               const std::vector<std::pair<size_t, Tensor>>& replace) {
  std::vector<Shape> shapes;
  std::vector<std::string> key;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Tensor* t = a.inputs[i];
    shapes.push_back(t ? t->shape() : Shape{-1});
    const bool is_data = std::count(data.begin(), data.end(), i) > 0;
    key.emplace_back(!is_data && t ? std::string(static_cast<const char*>(t->raw()), t->bytes()) : std::string());
  }
  for (size_t c = 0; c < cache_.size(); ++c)
    if (cache_[c].in_shapes == shapes && cache_[c].key_bytes == key) {
      std::rotate(cache_.begin(), cache_.begin() + static_cast<long>(c), cache_.begin() + static_cast<long>(c) + 1);
      return cache_[0];
    }

  Trace tr;
  tr.in_shapes = shapes;
  tr.key_bytes = key;
  std::vector<Tensor> iota(a.inputs.size());
  std::vector<const Tensor*> in(a.inputs.begin(), a.inputs.end());
  int64_t next = 1;
  for (size_t i : data) {
    DPL_CHECK(i < a.inputs.size() && a.inputs[i], "internal: data input {} missing", i);
    tr.offsets.push_back(next - 1);
    iota[i] = Tensor(DType::I64, a.inputs[i]->shape());
    int64_t* p = iota[i].data<int64_t>();
    for (int64_t e = 0; e < iota[i].numel(); ++e) p[e] = next + e;
    next += iota[i].numel();
    in[i] = &iota[i];
  }
  tr.offsets.push_back(next - 1);
  for (const auto& [i, t] : replace)
    if (i < in.size() && in[i]) in[i] = &t;
  tr.maps.assign(a.outputs.size(), Tensor());
  op.forward(ctx, in, tr.maps);
  std::vector<char> seen(static_cast<size_t>(next), 0);
  for (const Tensor& m : tr.maps) {
    if (!m.defined()) continue;
    DPL_CHECK(m.dtype() == DType::I64, "internal: index tracing produced {}", dtype_name(m.dtype()));
    for (int64_t e = 0; e < m.numel() && tr.injective; ++e) {
      const int64_t s = m.data<int64_t>()[e];
      if (s <= 0) continue;
      if (seen[s]) tr.injective = false;
      seen[s] = 1;
    }
  }
  constexpr size_t kMaxEntries = 4;
  cache_.insert(cache_.begin(), std::move(tr));
  if (cache_.size() > kMaxEntries) cache_.pop_back();
  return cache_[0];
}

void IndexMapGrad::backward(Op& op, OpContext& ctx, const GradArgs& a, const std::vector<size_t>& data,
                            const std::vector<std::pair<size_t, Tensor>>& replace) {
  bool any = false;
  for (size_t i : data) any = any || wants(a, i);
  if (!any) return;
  for (size_t i : data) float_input(a, i, "data movement");
  const Trace& tr = trace(op, ctx, a, data, replace);
  // One flat buffer over all data inputs in the traced numbering.
  std::vector<float> dx(static_cast<size_t>(tr.offsets.back()), 0.f);
  for (size_t k = 0; k < tr.maps.size(); ++k) {
    const Tensor* dy = output_grad(a, k, "data movement");
    if (!dy) continue;
    const int64_t* m = tr.maps[k].data<int64_t>();
    const float* g = dy->data<float>();
    float* d = dx.data() - 1;  // sources are numbered from 1
    auto scatter = [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j)
        if (m[j] > 0) d[m[j]] += g[j];
    };
    if (tr.injective) parallel_for(dy->numel(), scatter);
    else scatter(0, dy->numel());
  }
  for (size_t n = 0; n < data.size(); ++n) {
    const size_t i = data[n];
    if (!wants(a, i)) continue;
    Tensor t(DType::F32, a.inputs[i]->shape());
    std::copy_n(dx.data() + tr.offsets[n], t.numel(), t.data<float>());
    a.grad_inputs[i] = std::move(t);
  }
}

void ReshapeGradOp::backward(OpContext&, const GradArgs& args) {
  if (!wants(args, 0)) return;
  const Tensor& x = float_input(args, 0, "reshape");
  const Tensor* dy = output_grad(args, 0, "reshape");
  args.grad_inputs[0] = dy ? dy->reshaped(x.shape()) : Tensor::zeros(DType::F32, x.shape());
}

void MoveGradOp::backward(OpContext& ctx, const GradArgs& args) {
  std::vector<size_t> data{0};
  if (trace_all_inputs_)
    for (size_t i = 1; i < args.inputs.size(); ++i) data.push_back(i);
  trace_.backward(*this, ctx, args, data, trace_replace_);
}

}  // namespace dpl::grad
