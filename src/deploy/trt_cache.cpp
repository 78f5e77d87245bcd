// trt_calib.cache (**beyond**, --deploy_extra trt_cache): the text calibration cache TensorRT
// writes after INT8 calibration and reads back instead of calibrating (trtexec --int8
// --calib=trt_calib.cache). First line "TRT-8601-EntropyCalibration2", then one line
// "<tensor>: <hex>" per activation, the hex being the IEEE-754 bits (8 lowercase digits) of the
// float32 scale amax / 127 with amax = max(-lo, hi) as in trt_clip_val.json (a zero amax
// gives scale 1, as the QDQ model).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cstdint>

#include "deploy/backends.h"
#include "deploy/deploy_common.h"

namespace dpl::deploy {

std::vector<DeployFile> trt_cache_files(const DeployInput& in) {
  const std::string file = "trt_calib.cache";
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
