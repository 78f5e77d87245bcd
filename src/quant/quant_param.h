// Quantization parameters from a clip range (SPEC 6).
#pragma once
#include <cstdint>
#include <vector>

#include "calib/ranges.h"
#include "quant/platform.h"
#include "core/dtype.h"

namespace dpl {

struct QuantParams {
  std::vector<float> scale;         // one per channel, or one
  std::vector<int32_t> zero_point;  // same length as scale
  std::vector<int32_t> qmin, qmax;  // integer clamp bounds per channel
  bool symmetric = true;
  DType zp_type = DType::I8;        // I8 when symmetric, U8 when asymmetric
  bool per_channel() const { return scale.size() > 1; }
};

// From per-channel ranges; reduced to per-tensor first unless spec.per_channel.
QuantParams quant_params(const QuantSpec& spec, const ChannelRanges& r);
QuantParams quant_params(const QuantSpec& spec, const Range& r);

}  // namespace dpl
