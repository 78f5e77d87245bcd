// trt_clip_val.json: {"blob_range": {tensor: max(-lo, hi)}} for every activation (the
// original's deploy_trt.py; TensorRT's per-tensor dynamic range, scale = value / 127).
#include "deploy/backends.h"
#include "deploy/range_blob.h"

namespace dpl::deploy {

std::vector<DeployFile> trt_files(const DeployInput& in) {
  return {activation_blob_range(in, "trt_clip_val.json", [](const std::string&, const Range& r) -> Json {
    return std::max(-static_cast<double>(r.lo), static_cast<double>(r.hi));
  })};
}

}  // namespace dpl::deploy
