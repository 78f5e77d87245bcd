// atlas_quant_param.json (the original's deploy_atlas.py): for the first input of every node
// Atlas quantizes (Conv, Gemm, AveragePool), {"scale": s, "offset": o} with
// s = (max(0, hi) - min(0, lo)) / 255 (1 when 0) and o = round(-min(0, lo) / s) - 128: an
// asymmetric uint8 grid moved to int8, so one zero point serves symmetric and asymmetric data.
// 255 and 128 are those of 8 bits: the file follows each input's activation bits (precision plan).
#include "deploy/backends.h"
#include "deploy/deploy_common.h"
#include "quant/quant_param.h"

namespace dpl::deploy {

std::vector<DeployFile> atlas_files(const DeployInput& in) {
  const std::string file = "atlas_quant_param.json";
  RangeTable table(in, file);
  Json j = Json::object();
  for (const auto& n : in.graph.graph().node()) {
    if (!in.platform.quantizes(n.op_type()) || n.input_size() == 0 || n.input(0).empty()) continue;
    const Range r = table.need_tensor(n.input(0), "input of node '" + n.name() + "'");
    const int bits = act_bits(in, n.input(0));
    const AsymmetricGrid grid = asymmetric_grid(r, bits, 1.0);
    Json e = Json::object();
    e["scale"] = grid.scale;
    e["offset"] = grid.zero_point + signed_min_code(bits);  // the unsigned codes moved to signed ones
    j[n.input(0)] = std::move(e);
  }
  return {{file, json_text(j, file)}};
}

}  // namespace dpl::deploy
