// Activations: Relu, LeakyRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid, HardSwish, Tanh,
// Softplus, Softsign, ThresholdedRelu. Float32 loops vectorize (Sigmoid and Tanh use the
// branch-free approximations of elementwise.h, relative error below 3e-7); float64 uses libm.
// Each functor's grad(x, y, dy) is dL/dx from its derivative, the op's backward pass
// (float32); at a kink such as Relu's 0 it gives one of the one-sided derivatives.
#include <algorithm>
#include <cmath>

#include "runtime/ops/elementwise.h"

namespace dpl {
namespace {

using ew::NoAttrs;
using ew::UnaryOp;

// Relu is defined for signed integers too (opset 14).
struct ReluFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_signed_numeric_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return x > T(0) ? x : T(0); }
  template <typename T> T grad(T x, T, T dy) const { return x > T(0) ? dy : T(0); }
};

struct LeakyReluFn {
  float alpha = 0.01f;
  void init(const NodeDesc& n) { alpha = n.attrs.get_float("alpha", 0.01f); }
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return x < T(0) ? T(alpha) * x : x; }
  template <typename T> T grad(T x, T, T dy) const { return x < T(0) ? T(alpha) * dy : dy; }
};

struct EluFn {
  float alpha = 1.0f;
  void init(const NodeDesc& n) { alpha = n.attrs.get_float("alpha", 1.0f); }
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const { return x < T(0) ? T(alpha) * std::expm1(x) : x; }
  // alpha * exp(x) = y + alpha below 0.
  template <typename T> T grad(T x, T y, T dy) const { return x < T(0) ? dy * (y + T(alpha)) : dy; }
};

struct SeluFn {
  float alpha = 1.67326319217681884765625f;
  float gamma = 1.05070102214813232421875f;
  void init(const NodeDesc& n) {
    alpha = n.attrs.get_float("alpha", alpha);
    gamma = n.attrs.get_float("gamma", gamma);
  }
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const {
    return x > T(0) ? T(gamma) * x : T(gamma) * T(alpha) * std::expm1(x);
  }
  template <typename T> T grad(T x, T y, T dy) const {
    return x > T(0) ? T(gamma) * dy : dy * (y + T(gamma) * T(alpha));
  }
};

struct CeluFn {
  float alpha = 1.0f;
  void init(const NodeDesc& n) {
    alpha = n.attrs.get_float("alpha", 1.0f);
    DPL_CHECK(alpha != 0.0f, "Celu: alpha must be non-zero");
  }
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const {
    return x > T(0) ? x : T(alpha) * std::expm1(x / T(alpha));
  }
  // exp(x / alpha) = y / alpha + 1 at or below 0.
  template <typename T> T grad(T x, T y, T dy) const { return x > T(0) ? dy : dy * (y / T(alpha) + T(1)); }
};

struct SigmoidFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return ew::sigmoid_fast(x);
    else return T(1) / (T(1) + std::exp(-x));
  }
  template <typename T> T grad(T, T y, T dy) const { return dy * y * (T(1) - y); }
};

// x * Sigmoid(x) as one op: training sessions have no fusion, and SiLU written as Sigmoid and
// Mul costs five passes over the activation forward and backward (two forward, three back)
// where this takes two. transform/adaround_layer.cpp rewrites the pair into it.
struct SiluFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return x * ew::sigmoid_fast(x);
    else return x / (T(1) + std::exp(-x));
  }
  template <typename T> T grad(T x, T, T dy) const {
    T s;
    if constexpr (std::is_same_v<T, float>) s = ew::sigmoid_fast(x);  // vectorizes; std::exp does not
    else s = T(1) / (T(1) + std::exp(-x));
    return dy * s * (T(1) + x * (T(1) - s));
  }
};

struct HardSigmoidFn {
  float alpha = 0.2f, beta = 0.5f;
  void init(const NodeDesc& n) {
    alpha = n.attrs.get_float("alpha", 0.2f);
    beta = n.attrs.get_float("beta", 0.5f);
  }
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const {
    const T v = T(alpha) * x + T(beta);
    return std::min(T(1), std::max(T(0), v));
  }
  template <typename T> T grad(T x, T, T dy) const {
    const T v = T(alpha) * x + T(beta);
    return v > T(0) && v < T(1) ? T(alpha) * dy : T(0);
  }
};

// x * HardSigmoid(x) with alpha = 1/6, beta = 0.5.
struct HardSwishFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const {
    const T v = x * T(1.0 / 6.0) + T(0.5);
    return x * std::min(T(1), std::max(T(0), v));
  }
  template <typename T> T grad(T x, T, T dy) const {
    const T v = x * T(1.0 / 6.0) + T(0.5);
    return v <= T(0) ? T(0) : (v >= T(1) ? dy : dy * (x * T(1.0 / 3.0) + T(0.5)));
  }
};

struct TanhFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return ew::tanh_fast(x);
    else return std::tanh(x);
  }
  template <typename T> T grad(T, T y, T dy) const { return dy * (T(1) - y * y); }
};

// log(1 + exp(x)), written to neither overflow nor lose the small values.
struct SoftplusFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = true;
  template <typename T> T operator()(T x) const {
    return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
  // Sigmoid(x).
  template <typename T> T grad(T x, T, T dy) const { return dy / (T(1) + std::exp(-x)); }
};

struct SoftsignFn : NoAttrs {
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return x / (T(1) + std::fabs(x)); }
  template <typename T> T grad(T x, T, T dy) const {
    const T d = T(1) + std::fabs(x);
    return dy / (d * d);
  }
};

struct ThresholdedReluFn {
  float alpha = 1.0f;
  void init(const NodeDesc& n) { alpha = n.attrs.get_float("alpha", 1.0f); }
  template <typename T> static constexpr bool supports = ew::is_float_v<T>;
  static constexpr bool heavy = false;
  template <typename T> T operator()(T x) const { return x > T(alpha) ? x : T(0); }
  template <typename T> T grad(T x, T, T dy) const { return x > T(alpha) ? dy : T(0); }
};

}  // namespace

// Sigmoid; in fused sessions it absorbs the Mul of SiLU, x * Sigmoid(x) (YOLOX's activation,
// about a quarter of its time as two passes), and computes it in one pass over x.
class SigmoidOp : public UnaryOp<SigmoidFn> {
 public:
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool ready) const override {
    if (f.op_type != "Mul" || !ready || f.inputs.size() != 2 || self.inputs.empty() || self.outputs.empty())
      return false;
    const std::string &x = self.inputs[0], &s = self.outputs[0];
    return (f.inputs[0] == x && f.inputs[1] == s) || (f.inputs[0] == s && f.inputs[1] == x);
  }
  void init(const NodeDesc& node) override {
    UnaryOp<SigmoidFn>::init(node);
    swish_ = !node.absorbed.empty();
  }
  bool forward_span(const SpanArgs& a) override { return !swish_ && UnaryOp<SigmoidFn>::forward_span(a); }
  // Fused SiLU runs in inference sessions only.
  bool has_backward() const override { return !swish_; }
  void backward(OpContext& ctx, const GradArgs& args) override {
    DPL_CHECK(!swish_, "fused SiLU has no backward pass (fusion is for inference sessions)");
    UnaryOp<SigmoidFn>::backward(ctx, args);
  }
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    if (!swish_) return UnaryOp<SigmoidFn>::forward(ctx, in, out);
    const Tensor& x = *in[0];
    DPL_CHECK(x.dtype() == DType::F32, "fused SiLU supports float32 only, got {}", dtype_name(x.dtype()));
    Tensor y(DType::F32, x.shape());
    parallel_map(x.data<float>(), y.data<float>(), x.numel(), [](float v) { return v * ew::sigmoid_fast(v); },
                 kElementwiseGrainHeavy);
    out[0] = std::move(y);
  }

 private:
  bool swish_ = false;
};

DPL_REGISTER_OP("Relu", UnaryOp<ReluFn>);
DPL_REGISTER_OP("LeakyRelu", UnaryOp<LeakyReluFn>);
DPL_REGISTER_OP("Elu", UnaryOp<EluFn>);
DPL_REGISTER_OP("Selu", UnaryOp<SeluFn>);
DPL_REGISTER_OP("Celu", UnaryOp<CeluFn>);
DPL_REGISTER_OP("Sigmoid", SigmoidOp);
DPL_REGISTER_OP("HardSigmoid", UnaryOp<HardSigmoidFn>);
DPL_REGISTER_OP("dpl.Silu", UnaryOp<SiluFn>);
DPL_REGISTER_OP("HardSwish", UnaryOp<HardSwishFn>);
DPL_REGISTER_OP("Tanh", UnaryOp<TanhFn>);
DPL_REGISTER_OP("Softplus", UnaryOp<SoftplusFn>);
DPL_REGISTER_OP("Softsign", UnaryOp<SoftsignFn>);
DPL_REGISTER_OP("ThresholdedRelu", UnaryOp<ThresholdedReluFn>);

}  // namespace dpl
