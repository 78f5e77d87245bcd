// trt_calib.cache (**beyond**, --deploy_extra trt_cache): the text calibration cache TensorRT
// writes after INT8 calibration and reads back instead of calibrating (trtexec --int8
// --calib=trt_calib.cache). First line "TRT-8601-EntropyCalibration2", then one line
// "<tensor>: <hex>" per activation, the hex being the IEEE-754 bits (8 lowercase digits) of the
// float32 scale amax / 127 with amax = max(-lo, hi) as in trt_clip_val.json (a zero amax
// gives scale 1, as the QDQ model). The cache is an 8-bit format (TensorRT quantizes every
// tensor, weights included, to int8 with it): a QDQ model with any tensor below 8 bits is
// refused with the tensors named (docs/deploy.md "Bit widths"); the run checks it before it
// writes anything.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cstdint>

#include "deploy/backends.h"
#include "deploy/deploy_common.h"
#include "util/error.h"

namespace dpl::deploy {

std::vector<DeployFile> trt_cache_files(const DeployInput& in) {
  const std::string file = "trt_calib.cache";
  if (in.qdq) {
    const std::vector<std::string> narrow = in.qdq->precision.below_8bit();
    DPL_CHECK(narrow.empty(), "--deploy_extra trt_cache: TensorRT's calibration cache is an 8-bit format and {} "
              "tensor(s) are below 8 bits (first: '{}'); deploy quant_model.onnx (explicit Q/DQ) instead",
              narrow.size(), narrow.empty() ? std::string() : narrow.front());
  }
  RangeTable table(in, file);
  std::string text = "TRT-8601-EntropyCalibration2\n";
  for (const auto& t : table.activations()) {
    const Range r = table.need_tensor(t, "an activation");
    const float amax = std::max(-r.lo, r.hi);
    float scale = amax / 127.0f;
    if (scale == 0.0f) scale = 1.0f;
    if (t.find_first_of("\r\n") != std::string::npos) {
      spdlog::warn("{}: tensor name '{}' holds a line break, which the cache format cannot carry; left out", file, t);
      continue;
    }
    text += fmt::format("{}: {:08x}\n", t, std::bit_cast<uint32_t>(scale));
  }
  return {{file, text}};
}

}  // namespace dpl::deploy
