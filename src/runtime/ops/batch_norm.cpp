// BatchNormalization. Inference (training_mode=0, every opset): per channel
// y = x * a + b with a = scale / sqrt(var + eps), b = bias - mean * a (runtime/bn_affine.h),
// folded once per session when the parameters are initializers. training_mode=1 (opset
// 14/15) normalizes with the batch's own statistics and also returns the updated running
// mean/variance.
// In fused sessions an inference BN absorbs a following Relu, LeakyRelu, Clip or SiLU
// (dpl.Swish), applied in the same pass.
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/bn_affine.h"
#include "runtime/fusion.h"
#include "runtime/op_registry.h"
#include "runtime/ops/grad_kernels.h"
#include "runtime/ops/elementwise.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

std::vector<double> to_f64(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.at_f64(i);
  return v;
}

enum class Act { None, Relu, Clip, Leaky, Swish };

struct ActParams {
  Act kind = Act::None;
  double lo = 0, hi = 0, alpha = 0.01;
};

template <typename T, Act A>
inline T activate(T v, T lo, T hi, T alpha) {
  if constexpr (A == Act::Relu) return v > T(0) ? v : T(0);
  else if constexpr (A == Act::Clip) return v < lo ? lo : (v > hi ? hi : v);
  else if constexpr (A == Act::Leaky) return v >= T(0) ? v : v * alpha;
  else if constexpr (A == Act::Swish) {
    if constexpr (std::is_same_v<T, float>) return v * ew::sigmoid_fast(v);
    else return v / (T(1) + std::exp(-v));
  } else {
    (void)lo, (void)hi, (void)alpha;
    return v;
  }
}

// y[n, c, :] = act(x[n, c, :] * a[c] + b[c])
template <typename T, Act A>
void affine_channels_act(const T* x, T* y, int64_t n, int64_t c, int64_t sp, const std::vector<T>& a,
                         const std::vector<T>& b, const ActParams& ap) {
  const T lo = static_cast<T>(ap.lo), hi = static_cast<T>(ap.hi), alpha = static_cast<T>(ap.alpha);
  parallel_for(
      n * c,
      [&](int64_t beg, int64_t end) {
        for (int64_t i = beg; i < end; ++i) {
          const T ai = a[i % c], bi = b[i % c];
          const T* xp = x + i * sp;
          T* yp = y + i * sp;
#pragma omp simd
          for (int64_t j = 0; j < sp; ++j) yp[j] = activate<T, A>(xp[j] * ai + bi, lo, hi, alpha);
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(1, sp)));
}

template <typename T>
void affine_channels(const T* x, T* y, int64_t n, int64_t c, int64_t sp, const std::vector<T>& a,
                     const std::vector<T>& b, const ActParams& ap = {}) {
  switch (ap.kind) {
    case Act::None: affine_channels_act<T, Act::None>(x, y, n, c, sp, a, b, ap); break;
    case Act::Relu: affine_channels_act<T, Act::Relu>(x, y, n, c, sp, a, b, ap); break;
    case Act::Clip: affine_channels_act<T, Act::Clip>(x, y, n, c, sp, a, b, ap); break;
    case Act::Leaky: affine_channels_act<T, Act::Leaky>(x, y, n, c, sp, a, b, ap); break;
    case Act::Swish: affine_channels_act<T, Act::Swish>(x, y, n, c, sp, a, b, ap); break;
  }
}

class BatchNormOp : public Op {
 public:
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool extra_ready) const override {
    if (self.attrs.get_int("training_mode", 0) != 0 || !self.absorbed.empty()) return false;
    if (f.op_type == "Relu" || f.op_type == "LeakyRelu" || f.op_type == kSwishOp) return true;
    // Clip's bounds (opset 11+ inputs) are read at run time from the appended operands.
    return f.op_type == "Clip" && extra_ready;
  }

  void init(const NodeDesc& node) override {
    name_ = node.name;
    eps_ = node.attrs.get_float("epsilon", 1e-5f);
    momentum_ = node.attrs.get_float("momentum", 0.9f);
    training_ = node.attrs.get_int("training_mode", 0) != 0;
    DPL_CHECK(node.attrs.get_int("spatial", 1) == 1, "BatchNormalization '{}': spatial=0 is not supported", name_);
    const size_t own = node.absorbed.empty() ? node.inputs.size() : node.own_inputs;
    DPL_CHECK(own == 5, "BatchNormalization '{}' needs 5 inputs (X, scale, B, mean, var), got {}", name_, own);
    for (size_t i = 1; i < 5; ++i) DPL_CHECK(node.has_input(i), "BatchNormalization '{}': input {} is missing", name_, i);
    for (const NodeDesc& f : node.absorbed) {
      if (f.op_type == "Relu") {
        act_.kind = Act::Relu;
      } else if (f.op_type == "LeakyRelu") {
        act_.kind = Act::Leaky;
        act_.alpha = f.attrs.get_float("alpha", 0.01f);
      } else if (f.op_type == kSwishOp) {
        act_.kind = Act::Swish;
      } else if (f.op_type == "Clip") {
        act_.kind = Act::Clip;
        act_.lo = -std::numeric_limits<double>::infinity();
        act_.hi = std::numeric_limits<double>::infinity();
        if (f.opset < 11 || f.attrs.has("min") || f.attrs.has("max")) {
          if (f.attrs.has("min")) act_.lo = f.attrs.get_float("min", 0.f);
          if (f.attrs.has("max")) act_.hi = f.attrs.get_float("max", 0.f);
        } else {
          // The session appended Clip's present operands after this node's own inputs.
          size_t next = node.own_inputs;
          if (f.has_input(1)) clip_min_input_ = static_cast<int>(next++);
          if (f.has_input(2)) clip_max_input_ = static_cast<int>(next);
        }
      } else {
        fail("BatchNormalization '{}': cannot absorb {} '{}'", name_, f.op_type, f.name);
      }
    }
    if (!training_) {
      bool all_const = true;
      for (size_t i = 1; i < 5; ++i) all_const = all_const && node.constant(i) != nullptr;
      if (all_const) {
        fold(*node.constant(1), *node.constant(2), *node.constant(3), *node.constant(4));
        folded_ = true;
      }
    }
  }

  // Backward (grad_kernels.h): the inference form, when nothing was absorbed.
  bool has_backward() const override { return !training_ && act_.kind == Act::None; }
  void backward(OpContext&, const GradArgs& args) override {
    DPL_CHECK(has_backward(), "BatchNormalization '{}': no backward pass in training mode or with fused operators",
              name_);
    grad::batch_norm(args, eps_, name_);
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    DPL_CHECK(x.rank() >= 2, "BatchNormalization '{}': input must have rank >= 2 (N, C, ...), got {}", name_,
              shape_str(x.shape()));
    const int64_t n = x.shape()[0], c = x.shape()[1];
    const int64_t sp = n * c > 0 ? x.numel() / (n * c) : 0;
    for (size_t i = 1; i < 5; ++i)
      DPL_CHECK(in[i]->numel() == c, "BatchNormalization '{}': input {} has {} values for {} channels", name_, i,
                in[i]->numel(), c);
    out[0] = Tensor(x.dtype(), x.shape());
    if (training_) {
      forward_training(x, in, out, n, c, sp);
      return;
    }
    if (!folded_) fold(*in[1], *in[2], *in[3], *in[4]);
    ActParams act = act_;
    auto bound = [&](int i, double& v) {
      if (i < 0) return;
      DPL_CHECK(static_cast<size_t>(i) < in.size() && in[i] && in[i]->numel() == 1,
                "BatchNormalization '{}': absorbed Clip bound must be a one-element tensor", name_);
      v = in[i]->at_f64(0);
    };
    bound(clip_min_input_, act.lo);
    bound(clip_max_input_, act.hi);
    if (x.dtype() == DType::F32)
      affine_channels<float>(x.data<float>(), out[0].data<float>(), n, c, sp, af_, bf_, act);
    else if (x.dtype() == DType::F64)
      affine_channels<double>(x.data<double>(), out[0].data<double>(), n, c, sp, ad_, bd_, act);
    else fail("BatchNormalization '{}': element type {} is not supported (float, double)", name_, dtype_name(x.dtype()));
  }

 private:
  void fold(const Tensor& scale, const Tensor& bias, const Tensor& mean, const Tensor& var) {
    const auto s = to_f64(scale), b = to_f64(bias), m = to_f64(mean), v = to_f64(var);
    DPL_CHECK(s.size() == b.size() && s.size() == m.size() && s.size() == v.size(),
              "BatchNormalization '{}': scale, B, mean and var must have the same length", name_);
    BnAffine affine = bn_affine(s, b, m, v, static_cast<double>(eps_));
    ad_ = std::move(affine.scale);
    bd_ = std::move(affine.shift);
    af_.assign(ad_.begin(), ad_.end());
    bf_.assign(bd_.begin(), bd_.end());
  }

  void forward_training(const Tensor& x, const std::vector<const Tensor*>& in, std::vector<Tensor>& out, int64_t n,
                        int64_t c, int64_t sp) {
    DPL_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64,
              "BatchNormalization '{}': element type {} is not supported (float, double)", name_, dtype_name(x.dtype()));
    // Batch statistics per channel (population variance), in double.
    std::vector<double> mean(c, 0.0), var(c, 0.0);
    const double cnt = static_cast<double>(n * sp);
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t j = 0; j < sp; ++j) s += x.at_f64((b * c + ch) * sp + j);
      mean[ch] = cnt > 0 ? s / cnt : 0.0;
      double q = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t j = 0; j < sp; ++j) {
          const double dlt = x.at_f64((b * c + ch) * sp + j) - mean[ch];
          q += dlt * dlt;
        }
      var[ch] = cnt > 0 ? q / cnt : 0.0;
    }
    const auto s = to_f64(*in[1]), bias = to_f64(*in[2]), rm = to_f64(*in[3]), rv = to_f64(*in[4]);
    const BnAffine affine = bn_affine(s, bias, mean, var, static_cast<double>(eps_));
    const std::vector<double>& a = affine.scale;
    const std::vector<double>& b = affine.shift;
    if (x.dtype() == DType::F32) {
      std::vector<float> af(a.begin(), a.end()), bf(b.begin(), b.end());
      affine_channels<float>(x.data<float>(), out[0].data<float>(), n, c, sp, af, bf);
    } else {
      affine_channels<double>(x.data<double>(), out[0].data<double>(), n, c, sp, a, b);
    }
    const double mom = momentum_;
    auto running = [&](size_t slot, const std::vector<double>& old, const std::vector<double>& cur) {
      if (out.size() <= slot) return;
      const Tensor& like = *in[slot + 2];
      out[slot] = Tensor(like.dtype(), like.shape());
      for (int64_t ch = 0; ch < c; ++ch) {
        const double v = old[ch] * mom + cur[ch] * (1.0 - mom);
        if (like.dtype() == DType::F32) out[slot].data<float>()[ch] = static_cast<float>(v);
        else if (like.dtype() == DType::F64) out[slot].data<double>()[ch] = v;
        else fail("BatchNormalization '{}': running statistics must be float or double", name_);
      }
    };
    running(1, rm, mean);
    running(2, rv, var);
  }

  std::string name_;
  float eps_ = 1e-5f, momentum_ = 0.9f;
  bool training_ = false, folded_ = false;
  std::vector<double> ad_, bd_;
  std::vector<float> af_, bf_;
  ActParams act_;
  int clip_min_input_ = -1, clip_max_input_ = -1;
};

}  // namespace

DPL_REGISTER_OP("BatchNormalization", BatchNormOp);

}  // namespace dpl
