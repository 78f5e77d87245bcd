// magicmind_quant_param.json: {"blob_range": {tensor: {"min": lo, "max": hi}}} for every
// activation (the original's deploy_magicmind.py; MagicMind takes the raw range).
#include "deploy/backends.h"
#include "deploy/range_blob.h"

namespace dpl::deploy {

std::vector<DeployFile> magicmind_files(const DeployInput& in) {
  return {activation_blob_range(in, "magicmind_quant_param.json", [](const std::string&, const Range& r) {
    Json e = Json::object();
    e["min"] = static_cast<double>(r.lo);
    e["max"] = static_cast<double>(r.hi);
    return e;
  })};
}

}  // namespace dpl::deploy
