// magicmind_quant_param.json: {"blob_range": {tensor: {"min": lo, "max": hi}}} for every
// activation (the original's deploy_magicmind.py; MagicMind takes the raw range).
#include "deploy/backends.h"
#include "deploy/deploy_common.h"

namespace dpl::deploy {

std::vector<DeployFile> magicmind_files(const DeployInput& in) {
  const std::string file = "magicmind_quant_param.json";
  RangeTable table(in, file);
  Json blob = Json::object();
  for (const auto& t : table.activations()) {
    const ChannelRanges r = table.need(t, "an activation");
    Json e = Json::object();
    e["min"] = min_of(r);
    e["max"] = max_of(r);
    blob[t] = std::move(e);
  }
  Json j = Json::object();
  j["blob_range"] = std::move(blob);
  return {{file, json_text(j, file)}};
}

}  // namespace dpl::deploy
