// One writer per back end (deploy/<platform>.cpp) and per extra format; deploy.cpp picks them.
#pragma once
#include <vector>

#include "deploy/deploy.h"

namespace dpl::deploy {

std::vector<DeployFile> trt_files(const DeployInput& in);        // trt_clip_val.json
std::vector<DeployFile> stpu_files(const DeployInput& in);       // stpu_minmax.json
std::vector<DeployFile> magicmind_files(const DeployInput& in);  // magicmind_quant_param.json
std::vector<DeployFile> rv_files(const DeployInput& in);         // rv_/rk_quantized_param.{yaml,json}
std::vector<DeployFile> atlas_files(const DeployInput& in);      // atlas_quant_param.json
std::vector<DeployFile> snpe_files(const DeployInput& in);       // snpe_encodings.json
std::vector<DeployFile> ti_files(const DeployInput& in);         // ti_blob_range.{txt,json}
std::vector<DeployFile> imx_files(const DeployInput& in);        // imx_scale.json

std::vector<DeployFile> trt_cache_files(const DeployInput& in);  // trt_calib.cache
std::vector<DeployFile> aimet_files(const DeployInput& in);      // aimet_encodings.json

}  // namespace dpl::deploy
