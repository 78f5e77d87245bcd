// The profiling files: layer_res.json and model_res.json in the original's layout
// (utils.py's save_profiling_res: {tensor: mean cosine} for every output of every quantized
// node, {network output: [avg cosine, min cosine]}, json.dump indent 4, graph order), and
// profile.json (beyond): everything the console and report.html show, machine-readable.
#pragma once
#include <string>

#include "profile/report.h"

namespace dpl {

std::string layer_res_json(const ProfileResult& r);
std::string model_res_json(const ProfileResult& r);
std::string profile_json(const ProfileReport& r);

}  // namespace dpl
