// Quantization parameters from a clip range (docs/spec.md 6), the integer grids of a bit width,
// and the scale / zero point initializers both quantized models carry.
#pragma once
#include <cstdint>
#include <vector>

#include "calib/ranges.h"
#include "quant/platform.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace dpl {

struct QuantParams {
  std::vector<float> scale;         // one per channel, or one
  std::vector<int32_t> zero_point;  // same length as scale
  std::vector<int32_t> qmin, qmax;  // per channel, bounds of code - zero_point (w / scale rounded):
                                    // -zp .. 2^b - 1 - zp when asymmetric
  bool symmetric = true;
  DType zp_type = DType::I8;        // I8 when symmetric, U8 when asymmetric
  int bits = 8;                     // QuantSpec::bits: qmin..qmax lie inside the 8-bit storage type
  bool per_channel() const { return scale.size() > 1; }
};

// From per-channel ranges; reduced to per-tensor first unless spec.per_channel.
QuantParams quant_params(const QuantSpec& spec, const ChannelRanges& r);
QuantParams quant_params(const QuantSpec& spec, const Range& r);

// The integer codes of `bits` bits (QuantSpec::bits, the one source of a tensor's precision):
// unsigned 0 .. 2^bits - 1, signed -2^(bits-1) .. 2^(bits-1) - 1 (0..255 and -128..127 at 8).
constexpr int32_t unsigned_max_code(int bits) { return (1 << bits) - 1; }
constexpr int32_t signed_min_code(int bits) { return -(1 << (bits - 1)); }
constexpr int32_t signed_max_code(int bits) { return (1 << (bits - 1)) - 1; }

// The scale (float32) and zero point (p.zp_type) initializers: scalars, or 1-D per channel.
Tensor scale_tensor(const QuantParams& p);
Tensor zero_point_tensor(const QuantParams& p);

}  // namespace dpl
