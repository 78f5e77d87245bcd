// Helpers shared by the elementwise kernel files (unary_math, activation, binary_arith...):
// type predicates for dispatch, a generic unary-op class, and float math written so the
// compiler vectorizes it (no calls into libm inside the loops).
#pragma once
#include <bit>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "runtime/broadcast.h"
#include "runtime/channels_last.h"
#include "runtime/op_registry.h"
#include "runtime/ops/binary_grad.h"
#include "runtime/ops/fake_quant.h"
#include "runtime/parallel.h"

namespace dpl::ew {

template <typename T>
inline constexpr bool is_float_v = std::is_floating_point_v<T>;
template <typename T>
inline constexpr bool is_bool_v = std::is_same_v<T, bool>;
template <typename T>
inline constexpr bool is_numeric_v = std::is_arithmetic_v<T> && !is_bool_v<T>;
template <typename T>
inline constexpr bool is_signed_numeric_v = is_numeric_v<T> && std::is_signed_v<T>;

// Integer + - * that wrap on overflow (two's complement) instead of being undefined;
// plain arithmetic for floats.
template <typename T>
inline T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !is_bool_v<T>) {
    using U = std::make_unsigned_t<decltype(+a)>;  // at least unsigned int
    return static_cast<T>(static_cast<U>(static_cast<std::make_unsigned_t<T>>(a)) +
                          static_cast<U>(static_cast<std::make_unsigned_t<T>>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
inline T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T> && !is_bool_v<T>) {
    using U = std::make_unsigned_t<decltype(+a)>;
    return static_cast<T>(static_cast<U>(static_cast<std::make_unsigned_t<T>>(a)) -
                          static_cast<U>(static_cast<std::make_unsigned_t<T>>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
inline T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T> && !is_bool_v<T>) {
    using U = std::make_unsigned_t<decltype(+a)>;
    return static_cast<T>(static_cast<U>(static_cast<std::make_unsigned_t<T>>(a)) *
                          static_cast<U>(static_cast<std::make_unsigned_t<T>>(b)));
  } else {
    return a * b;
  }
}

// exp(x) for float, max relative error about 1.5e-7 over the whole range (with gradual
// underflow to denormals and overflow to inf; NaN propagates). Branch-free so loops over it
// vectorize: n = round(x / ln2), r = x - n ln2 in two parts, e^r by a degree-7 polynomial
// (Taylor coefficients), 2^n applied as two exact power-of-two factors.
inline float exp_fast(float x) {
  float xc = x >= -104.0f ? x : -104.0f;  // NaN compares false and becomes -104 here
  xc = xc <= 88.8f ? xc : 88.8f;
  // Round to nearest with the 1.5 * 2^23 trick (exact for |v| < 2^22).
  const float v = xc * 1.44269504088896341f;
  const float n = (v + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693145751953125f;  // ln2 high part (exactly representable, 16 bits)
  r = r - n * 1.42860682030941723212e-6f;  // ln2 - high part
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;  // each in [-75, 64]: normal powers of two
  const float s1 = std::bit_cast<float>((n1 + 127) << 23);
  const float s2 = std::bit_cast<float>((n2 + 127) << 23);
  const float res = p * s1 * s2;
  return x == x ? res : x;
}

// 1 / (1 + exp(-x)), relative error about 2e-7.
inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

// tanh(x): odd polynomial near 0 (where 1 - 2/(e^2x + 1) cancels), else through exp_fast.
// Relative error about 3e-7.
inline float tanh_fast(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  // Minimax-style odd polynomial for |x| < 0.625 (Cephes tanhf coefficients).
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float e = exp_fast(2.0f * a);
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = std::copysign(big, x);
  return a < 0.625f ? small : (x == x ? big : x);
}

// Element type conversion with Cast's semantics (see cast.cpp); returns x itself when it
// already has type `to`. float16 <-> float32 scalar conversions (round half to even).
Tensor cast_tensor(const Tensor& x, DType to);
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

// float16 support for kernels that compute in float32. When some input is float16, runs
// op.forward on float32 copies of those inputs, converts float32 outputs back to float16
// when input `value_input` was float16 (the input whose type the outputs follow), and
// returns true; returns false, doing nothing, when no input is float16.
bool forward_f16_as_f32(Op& op, OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out,
                        size_t value_input = 0);

// Input i, which the operator requires (a clear error when the graph omits it).
inline const Tensor& required_input(const std::vector<const Tensor*>& in, size_t i) {
  DPL_CHECK(i < in.size() && in[i] != nullptr && in[i]->defined(), "required input {} is missing", i);
  return *in[i];
}

// Whether a unary functor has a derivative: template <typename T> T grad(T x, T y, T dy)
// const, giving dL/dx from the input x, the output y = f(x) and dL/dy (float32).
template <typename Fn>
inline constexpr bool has_grad_v = requires(const Fn& fn, float v) {
  { fn.template grad<float>(v, v, v) } -> std::same_as<float>;
};

// Generic unary operator: Fn provides
//   template <typename T> static constexpr bool supports = ...;
//   void init(const NodeDesc&)                      (attributes; may be empty)
//   template <typename T> T operator()(T x) const    (the elementwise function)
//   static constexpr bool heavy                      (costly per element: smaller grain)
// and optionally grad (has_grad_v), which gives the op its backward pass on float32.
template <typename Fn>
class UnaryOp : public Op {
 public:
  void init(const NodeDesc& node) override { fn_.init(node); }
  bool has_backward() const override { return has_grad_v<Fn>; }
  void backward(OpContext& ctx, const GradArgs& args) override {
    if constexpr (!has_grad_v<Fn>) {
      Op::backward(ctx, args);
    } else {
      if (args.wants.empty() || !args.wants[0]) return;
      const Tensor& x = required_input(args.inputs, 0);
      DPL_CHECK(!args.outputs.empty() && args.outputs[0] && args.outputs[0]->shape() == x.shape(),
                "backward needs the forward output");
      DPL_CHECK(x.dtype() == DType::F32, "backward supports float32 only, got {}", dtype_name(x.dtype()));
      Tensor dx = Tensor::zeros(DType::F32, x.shape());
      const Tensor* dy = args.grad_outputs.empty() ? nullptr : args.grad_outputs[0];
      if (dy) {
        DPL_CHECK(dy->dtype() == DType::F32 && dy->shape() == x.shape(), "output gradient must be float32 {}, got {} {}",
                  shape_str(x.shape()), dtype_name(dy->dtype()), shape_str(dy->shape()));
        const float *px = x.data<float>(), *py = args.outputs[0]->data<float>(), *pd = dy->data<float>();
        float* pdx = dx.data<float>();
        const Fn fn = fn_;
        parallel_for(
            x.numel(),
            [&](int64_t b, int64_t e) {
              for (int64_t i = b; i < e; ++i) pdx[i] = fn.template grad<float>(px[i], py[i], pd[i]);
            },
            Fn::heavy ? kElementwiseGrainHeavy : kElementwiseGrain);
      }
      args.grad_inputs[0] = std::move(dx);
    }
  }
  bool forward_span(const SpanArgs& a) override {
    if constexpr (Fn::template supports<float>) {
      if (a.inputs < 1 || !a.in[0] || a.scalar[0]) return false;
      const Fn fn = fn_;
      const float* __restrict x = a.in[0];
      float* __restrict y = a.y;
      for (int64_t i = 0; i < a.n; ++i) y[i] = fn(x[i]);
      return true;
    } else {
      (void)a;
      return false;
    }
  }
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    if (forward_f16_as_f32(*this, ctx, in, out)) return;
    const Tensor& x = required_input(in, 0);
    dispatch_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (Fn::template supports<T>) {
        Tensor y(x.dtype(), x.shape());
        const Fn fn = fn_;
        parallel_map(x.data<T>(), y.data<T>(), x.numel(), [fn](T v) { return fn(v); },
                     Fn::heavy ? kElementwiseGrainHeavy : kElementwiseGrain);
        out[0] = std::move(y);
      } else {
        fail("element type {} is not supported", dtype_name(x.dtype()));
      }
    });
  }

 private:
  Fn fn_;
};

// Generic binary operator over two inputs of one element type, with broadcasting. Fn
// provides
//   template <typename T> static constexpr bool supports = ...;
//   template <typename T> using out_t = ...;          (T, or bool for comparisons)
//   void init(const NodeDesc&)
//   template <typename T> out_t<T> operator()(T a, T b) const
//   static constexpr bool heavy
// and optionally template <typename T> void check(const Tensor& a, const Tensor& b) const,
// run before the loop (e.g. integer division by zero, which cannot throw from the loop),
// and optionally grad (binary_grad.h), which gives the op its backward pass on float32.
template <typename Fn>
class BinaryOp : public Op {
 public:
  // Float arithmetic (float out for float in) absorbs the fake quantization of its output
  // (a per-tensor QuantizeLinear -> DequantizeLinear pair, fusion.h's kQuantDequantOp),
  // applied to each run of results while they are in cache: a QDQ model quantizes the
  // outputs of its Add and Mul nodes (docs/perf-notes.md, "Fake quantization in one pass").
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool ready) const override {
    if constexpr (Fn::template supports<float> && std::is_same_v<typename Fn::template out_t<float>, float>)
      return ready && self.absorbed.empty() && self.inputs.size() == 2 && per_tensor_constant_pair(f);
    else
      return false;
  }
  void init(const NodeDesc& node) override {
    fn_.init(node);
    if (!node.absorbed.empty()) {
      fq_ = pair_operands(node.absorbed[0], 2);
      fq_name_ = node.op_type + " '" + node.name + "' + QuantizeLinear -> DequantizeLinear";
      span_fq_ = constant_fake_quant(fq_name_, fq_, node);
    }
  }
  bool forward_span(const SpanArgs& a) override {
    if constexpr (Fn::template supports<float> && std::is_same_v<typename Fn::template out_t<float>, float>) {
      if (a.inputs < 2 || !a.in[0] || !a.in[1] || (a.scalar[0] && a.scalar[1])) return false;
      if (!fq_name_.empty() && !span_fq_) return false;
      const Fn fn = fn_;
      auto f = [fn](float p, float q) { return fn(p, q); };
      binary_run(a.in[0], a.scalar[0], a.in[1], a.scalar[1], a.y, a.n, f);
      if (span_fq_) (*span_fq_)(a.y, a.n);
      return true;
    } else {
      (void)a;
      return false;
    }
  }
  bool has_backward() const override { return has_binary_grad_v<Fn> && fq_name_.empty(); }
  void backward(OpContext& ctx, const GradArgs& args) override {
    if constexpr (has_binary_grad_v<Fn>) binary_backward(fn_, args);
    else Op::backward(ctx, args);
  }
  // Float arithmetic takes a channels-last operand with a per-channel (or same-layout) other
  // operand, a squeeze-excitation's x * scale[N, C, 1, 1], as it is: broadcast over the
  // memory shapes, the result channels-last, the same values (forward_channels_last).
  bool accepts_channels_last(size_t input) const override {
    if constexpr (Fn::template supports<float> && std::is_same_v<typename Fn::template out_t<float>, float>)
      return input < 2;
    else
      return (void)input, false;
  }
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    if (ctx.input_channels_last(0) || ctx.input_channels_last(1)) return forward_channels_last(ctx, in, out);
    forward_plain(ctx, in, out);
  }

 private:
  // Inputs in one memory order whatever it is (the result's order is theirs).
  void forward_plain(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    if (!fq_name_.empty()) return forward_fake_quantized(in, out);
    if (forward_f16_as_f32(*this, ctx, in, out)) return;
    const Tensor& a = required_input(in, 0);
    const Tensor& b = required_input(in, 1);
    DPL_CHECK(a.dtype() == b.dtype(), "input types differ ({} and {})", dtype_name(a.dtype()), dtype_name(b.dtype()));
    const Shape shape = broadcast_shape(a.shape(), b.shape());
    dispatch_dtype(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (Fn::template supports<T>) {
        using TO = typename Fn::template out_t<T>;
        const Fn fn = fn_;
        if constexpr (requires { fn.template check<T>(a, b); }) fn.template check<T>(a, b);
        Tensor y(DTypeOf<TO>::value, shape);
        broadcast_binary<TO, T, T>(a, b, y, [fn](T p, T q) { return fn(p, q); },
                                   Fn::heavy ? kElementwiseGrainHeavy : kElementwiseGrain);
        out[0] = std::move(y);
      } else {
        fail("element type {} is not supported", dtype_name(a.dtype()));
      }
    });
  }

  // A float32 channels-last operand with the other one channels-last too or varying along N
  // and C only: both as their memory shapes ([N, spatial..., C]), so the broadcast runs in
  // memory order and the result is channels-last. Otherwise the channels-last operands are
  // put back in plain order first. forward_plain runs with no input marked channels-last.
  void forward_channels_last(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    OpContext plain_ctx = ctx;
    plain_ctx.in_channels_last.clear();
    std::vector<const Tensor*> ins = in;
    Tensor held[2];  // the memory views, or the plain copies
    bool views = in.size() >= 2 && in[0] && in[1] && in[0]->dtype() == DType::F32 && in[1]->dtype() == DType::F32;
    const int r = ctx.input_channels_last(0) ? in[0]->rank() : in[1]->rank();
    for (size_t k = 0; views && k < 2; ++k) {
      const Tensor& t = *in[k];
      const std::optional<Shape> mem = ctx.input_channels_last(k)
                                           ? std::optional<Shape>(channels_last_memory_shape(t.shape()))
                                           : per_channel_memory_shape(t.shape(), r);
      views = mem && mem->size() == static_cast<size_t>(r);
      if (views) held[k] = t.reshaped(*mem), ins[k] = &held[k];
    }
    if (views) {
      forward_plain(plain_ctx, ins, out);
      out[0] = out[0].reshaped(channels_last_logical_shape(out[0].shape()));
      ctx.out_channels_last[0] = 1;
      return;
    }
    for (size_t k = 0; k < 2 && k < in.size(); ++k) {
      ins[k] = in[k];
      if (ctx.input_channels_last(k) && in[k]) held[k] = channels_last_to_plain(*in[k]), ins[k] = &held[k];
    }
    forward_plain(plain_ctx, ins, out);
  }

  // The op and its absorbed fake quantization: float32 in; each block of results is
  // quantized and dequantized in place while in L1 (the same bits as two nodes).
  void forward_fake_quantized(const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    if constexpr (Fn::template supports<float> && std::is_same_v<typename Fn::template out_t<float>, float>) {
      const Tensor& a = required_input(in, 0);
      const Tensor& b = required_input(in, 1);
      DPL_CHECK(a.dtype() == DType::F32 && b.dtype() == DType::F32, "{}: float32 inputs expected, got {} and {}",
                fq_name_, dtype_name(a.dtype()), dtype_name(b.dtype()));
      const FakeQuantSpan fq(fq_name_, fq_.args(in));
      Tensor y(DType::F32, broadcast_shape(a.shape(), b.shape()));
      const Fn fn = fn_;
      broadcast_binary<float, float, float>(a, b, y, [fn](float p, float q) { return fn(p, q); }, kElementwiseGrain,
                                            [&fq](float* yo, int64_t n) { fq(yo, n); });
      out[0] = std::move(y);
    } else {
      (void)in, (void)out;
      fail("internal: {} cannot absorb a fake quantization", fq_name_);
    }
  }

  Fn fn_;
  FakeQuantOperands fq_;
  std::string fq_name_;  // empty: no absorbed fake quantization
  std::optional<FakeQuantSpan> span_fq_;  // the pair, when its operands are constants
};

// Base for functors without attributes.
struct NoAttrs {
  void init(const NodeDesc&) {}
};

}  // namespace dpl::ew
