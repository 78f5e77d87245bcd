// Integer tensors of the QOperator model (quant/qop_builder.h): weights quantized as ONNX's
// QuantizeLinear does, int32 biases of QLinearConv, and the int8 <-> uint8 equivalence of
// quantization parameters.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "quant/quant_param.h"
#include "core/tensor.h"

namespace dpl {

// The same parameters in the other 8-bit type: int8 (s, z) and uint8 (s, z + 128) describe
// the same grid s * (q - z) with the same saturation bounds (q' = q + 128), so converting a
// tensor between them loses nothing. `t` is DType::I8 or DType::U8.
QuantParams as_type(QuantParams p, DType t);

// True when a and b quantize every float to the same real value: equal scales and equal zero
// points once in the same type.
bool same_grid(const QuantParams& a, const QuantParams& b);

// The real interval a per-tensor `p` represents: [s * (qmin - z), s * (qmax - z)] with
// qmin/qmax the bounds of p.zp_type (QuantizeLinear saturates there).
std::pair<double, double> representable_range(const QuantParams& p);

// ONNX QuantizeLinear of a float tensor: saturate(round_half_even(x / scale) + zero_point),
// the division in float32, per channel along `axis` when p has several scales (-1: one
// scale). The result has type p.zp_type.
Tensor quantize_linear(const Tensor& x, const QuantParams& p, int axis);

// QLinearConv's bias: round_half_even(b[c] / (x_scale * w_scale[c])) as int32, the scale
// product in float32 (one w_scale for all channels when it has one value). Values beyond the
// int32 range are clamped and counted in `clamped`.
Tensor quantize_bias(const Tensor& b, float x_scale, const std::vector<float>& w_scale, int64_t& clamped);

}  // namespace dpl
