// trt_clip_val.json: {"blob_range": {tensor: max(-lo, hi)}} for every activation (the
// original's deploy_trt.py; TensorRT's per-tensor dynamic range, scale = value / 127).
#include "deploy/backends.h"
#include "deploy/deploy_common.h"

namespace dpl::deploy {

std::vector<DeployFile> trt_files(const DeployInput& in) {
  const std::string file = "trt_clip_val.json";
  RangeTable table(in, file);
  Json blob = Json::object();
  for (const auto& t : table.activations()) {
    const Range r = table.need_tensor(t, "an activation");
    blob[t] = std::max(-static_cast<double>(r.lo), static_cast<double>(r.hi));
  }
  Json j = Json::object();
  j["blob_range"] = std::move(blob);
  return {{file, json_text(j, file)}};
}

}  // namespace dpl::deploy
