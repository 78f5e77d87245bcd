// Helpers shared by the integer operators (QLinearConv, ConvInteger, QLinearMatMul,
// MatMulInteger): zero-point reading, packing of constant weights, the checks of QLinear
// operators' quantization parameters and the ONNX requantization of int32 accumulators.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/dnnl_util.h"
#include "runtime/node_desc.h"
#include "runtime/ops/rounding.h"
#include "runtime/parallel.h"

namespace dpl {

// Value i of an integer zero-point tensor (0 when absent).
inline int32_t zp_at(const Tensor* zp, int64_t i = 0) {
  if (!zp) return 0;
  return static_cast<int32_t>(zp->at_i64(zp->numel() == 1 ? 0 : i));
}

// Checks a scale/zero point is a scalar or 1-D with `n` values (per channel).
inline void check_quant_param(const std::string& op, const char* what, const Tensor& t, int64_t n, bool allow_per_channel) {
  if (t.numel() == 1 && t.rank() <= 1) return;
  DPL_CHECK(allow_per_channel && t.rank() == 1 && t.numel() == n, "{}: {} must be a scalar{}, got shape {}", op, what,
            allow_per_channel ? fmt::format(" or have {} values", n) : std::string(), shape_str(t.shape()));
}

// Calls pack(w, w_zp) when the node's weight input and its zero point are constants (an
// omitted zero point counts as one), so that the weight is packed once; returns whether it did.
template <typename Pack>
bool pack_if_constant(const NodeDesc& node, size_t w_index, size_t zp_index, Pack&& pack) {
  const Tensor* w = node.constant(w_index);
  const bool zp_given = node.has_input(zp_index);
  const Tensor* zp = zp_given ? node.constant(zp_index) : nullptr;
  if (!w || (zp_given && !zp)) return false;
  pack(*w, zp);
  return true;
}

// Weights minus their zero points as the integer kernels keep them: int32 (w32) for the
// reference loop and, when the CPU accumulates int8 products exactly (dnn::has_exact_int8),
// an int8 copy (w8) for oneDNN. When w - w_zp fits in int8, w8 is it. Otherwise (uint8
// weights, or int8 weights with a zero point: w - w_zp spans up to [-255, 255]) w8 is the
// raw weight moved into int8 (w - 128 for uint8, w for int8) and `offset` holds, per channel,
// what w8 misses: w - w_zp = w8 + offset[c]. The caller adds offset[c] times the sum of its
// other operand (docs/qop.md, "Integer kernels"); an empty `offset` means none.
struct ShiftedWeights {
  bool constant = false;  // packed once, at init
  bool use_dnnl = false;
  std::vector<int32_t> w32;
  Tensor w8;
  std::vector<int32_t> offset;  // per channel; empty when w8 = w - w_zp
  // The input type the oneDNN kernel was built for; Undefined (build it) after the path changed.
  DType kernel_input = DType::Undefined;

  // Decides the path for the w32 just filled in from `raw` (the weights, uint8 or int8), whose
  // element i belongs to channel channel_of(i) of `channels`; makes w8 (and offset) for oneDNN.
  template <typename ChannelOf>
  void choose_path(const Tensor& raw, int64_t channels, ChannelOf&& channel_of) {
    const bool fits = std::all_of(w32.begin(), w32.end(), [](int32_t v) { return v >= -128 && v <= 127; });
    const bool dnnl_ok = dnn::has_exact_int8();
    offset.clear();
    if (dnnl_ok) {
      w8 = Tensor(DType::I8, raw.shape());
      int8_t* d = w8.data<int8_t>();
      if (fits) {
        for (size_t i = 0; i < w32.size(); ++i) d[i] = static_cast<int8_t>(w32[i]);
      } else {
        const int32_t base = raw.dtype() == DType::U8 ? 128 : 0;
        offset.assign(static_cast<size_t>(channels), 0);
        for (size_t i = 0; i < w32.size(); ++i) {
          const int32_t v = static_cast<int32_t>(raw.at_i64(static_cast<int64_t>(i))) - base;
          d[i] = static_cast<int8_t>(v);
          offset[static_cast<size_t>(channel_of(static_cast<int64_t>(i)))] = w32[i] - v;  // the same for a channel
        }
      }
    }
    if (dnnl_ok != use_dnnl) kernel_input = DType::Undefined;
    use_dnnl = dnnl_ok;
  }
};

// What ShiftedWeights::offset adds to a convolution's accumulators: acc[n, m, i] +=
// offset[m] * sums[n, m / per_group, i] (sums: [N, G, inner], the window sums of x - x_zp).
struct OffsetTerms {
  const int32_t* offset = nullptr;  // per output channel; null: no terms
  Tensor sums;
  int64_t per_group = 1;  // output channels per group
  const int32_t* row(int64_t n, int64_t m, int64_t channels) const {
    const int64_t groups = channels / per_group;
    return sums.data<int32_t>() + (n * groups + m / per_group) * sums.dim(2);
  }
};

// One row of requantize(). The pointers are restrict-qualified: Q is a char type, which may
// alias anything, and without the promise the compiler reloads every operand per element
// instead of vectorizing.
template <typename Q>
void requantize_row(const int32_t* __restrict a, Q* __restrict o, int64_t n, int32_t bias, float mult, float zp,
                    const int32_t* __restrict sums = nullptr, int32_t offset = 0) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  auto one = [&](int32_t acc) {
    float v = round_half_even(static_cast<float>(acc + bias) * mult) + zp;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    return static_cast<Q>(v);
  };
  if (sums)
    for (int64_t i = 0; i < n; ++i) o[i] = one(a[i] + offset * sums[i]);
  else
    for (int64_t i = 0; i < n; ++i) o[i] = one(a[i]);
}

// y = saturate(round_half_even(float(acc + bias[c]) * mult[c]) + y_zp) for an
// [outer, channels, inner] accumulator block; per_channel selects mult/bias by channel
// (bias may be null), with a convolution's offset terms added first when given (then
// channels are output channels and outer the batch). Matches ONNX Runtime's requantization
// (float multiplier x_scale * w_scale / y_scale, round to nearest even, then add the zero
// point and clamp).
template <typename Q>
void requantize(const int32_t* acc, Q* y, int64_t outer, int64_t channels, int64_t inner, const float* mult,
                bool per_channel_mult, const int32_t* bias, int32_t y_zp, const OffsetTerms* offsets = nullptr) {
  const float zpf = static_cast<float>(y_zp);
  parallel_for(
      outer * channels,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t c = b % channels;
          const int32_t* sums = offsets ? offsets->row(b / channels, c, channels) : nullptr;
          requantize_row(acc + b * inner, y + b * inner, inner, bias ? bias[c] : 0, mult[per_channel_mult ? c : 0],
                         zpf, sums, offsets ? offsets->offset[c] : 0);
        }
      },
      std::max<int64_t>(1, 65536 / std::max<int64_t>(inner, 1)));
}

// QLinearConv's and QLinearMatMul's inputs by their ONNX positions (x is MatMul's A, w its
// B; absent optional inputs are null) and y's type: y_zero_point's, else x's.
struct QLinearInputs {
  const Tensor& x;
  const Tensor& x_scale;
  const Tensor* x_zp;
  const Tensor& w;
  const Tensor& w_scale;
  const Tensor* w_zp;
  const Tensor& y_scale;
  const Tensor* y_zp;
  DType y_type;
};

// Inputs 0, 1, 3, 4 and 6 (x, x_scale, w, w_scale, y_scale) are required.
inline void check_qlinear_node(const NodeDesc& node, const std::string& op) {
  for (size_t i : {0, 1, 3, 4, 6}) DPL_CHECK(node.has_input(i), "{}: input {} is required", op, i);
}

// Reads the inputs and checks what both operators require of them: x's and y's scale and
// zero point are scalars, every scale is float32, y is uint8 or int8. `x` names input 0 in
// messages ("x" or "a"). w's scale (per channel) and zero point are the caller's to check.
inline QLinearInputs qlinear_inputs(const std::string& op, const std::vector<const Tensor*>& in, const std::string& x) {
  auto get = [&](size_t i) { return i < in.size() ? in[i] : nullptr; };
  QLinearInputs q{*in[0], *in[1], get(2), *in[3], *in[4], get(5), *in[6], get(7), DType::Undefined};
  check_quant_param(op, (x + "_scale").c_str(), q.x_scale, 1, false);
  check_quant_param(op, "y_scale", q.y_scale, 1, false);
  if (q.x_zp) check_quant_param(op, (x + "_zero_point").c_str(), *q.x_zp, 1, false);
  if (q.y_zp) check_quant_param(op, "y_zero_point", *q.y_zp, 1, false);
  DPL_CHECK(q.x_scale.dtype() == DType::F32 && q.w_scale.dtype() == DType::F32 && q.y_scale.dtype() == DType::F32,
            "{}: scales must be float32", op);
  q.y_type = q.y_zp ? q.y_zp->dtype() : q.x.dtype();
  DPL_CHECK(q.y_type == DType::U8 || q.y_type == DType::I8, "{}: y must be uint8 or int8, got {}", op,
            dtype_name(q.y_type));
  return q;
}

// y from the int32 accumulators `acc` ([outer, channels, inner] blocks): requantize() with
// the multipliers x_scale * w_scale[c] / y_scale (per channel when w_scale has several
// values) and y's zero point.
inline Tensor requantize_output(const QLinearInputs& q, const Tensor& acc, int64_t outer, int64_t channels,
                                int64_t inner, const int32_t* bias, const OffsetTerms* offsets = nullptr) {
  const float xsv = q.x_scale.data<float>()[0], ysv = q.y_scale.data<float>()[0];
  std::vector<float> mult(static_cast<size_t>(q.w_scale.numel()));
  for (int64_t i = 0; i < q.w_scale.numel(); ++i) mult[i] = xsv * q.w_scale.data<float>()[i] / ysv;
  Tensor y(q.y_type, acc.shape());
  if (y.numel() > 0) {
    if (q.y_type == DType::U8)
      requantize<uint8_t>(acc.data<int32_t>(), y.data<uint8_t>(), outer, channels, inner, mult.data(), mult.size() > 1,
                          bias, zp_at(q.y_zp), offsets);
    else
      requantize<int8_t>(acc.data<int32_t>(), y.data<int8_t>(), outer, channels, inner, mult.data(), mult.size() > 1,
                         bias, zp_at(q.y_zp), offsets);
  }
  return y;
}

}  // namespace dpl
