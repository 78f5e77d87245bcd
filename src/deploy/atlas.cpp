// atlas_quant_param.json (the original's deploy_atlas.py): for the first input of every node
// Atlas quantizes (Conv, Gemm, AveragePool), {"scale": s, "offset": o} with
// s = (max(0, hi) - min(0, lo)) / 255 (1 when 0) and o = round(-min(0, lo) / s) - 128: an
// asymmetric uint8 grid moved to int8, so one zero point serves symmetric and asymmetric data.
#include <algorithm>

#include "deploy/backends.h"
#include "deploy/deploy_common.h"

namespace dpl::deploy {

std::vector<DeployFile> atlas_files(const DeployInput& in) {
  const std::string file = "atlas_quant_param.json";
  RangeTable table(in, file);
  Json j = Json::object();
  for (const auto& n : in.graph.graph().node()) {
    if (!in.platform.quantizes(n.op_type()) || n.input_size() == 0 || n.input(0).empty()) continue;
    const Range r = table.need_tensor(n.input(0), "input of node '" + n.name() + "'");
    const double lo = std::min(0.0, static_cast<double>(r.lo)), hi = std::max(0.0, static_cast<double>(r.hi));
    double step = (hi - lo) / 255.0;
    if (step == 0.0) step = 1.0;
    Json e = Json::object();
    e["scale"] = step;
    e["offset"] = static_cast<int64_t>(round_half_even(-lo / step)) - 128;
    j[n.input(0)] = std::move(e);
  }
  return {{file, json_text(j, file)}};
}

}  // namespace dpl::deploy
