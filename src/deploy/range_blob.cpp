// The shared "blob_range" file layout (see range_blob.h).
#include "deploy/range_blob.h"

namespace dpl::deploy {

std::string blob_range_text(Json blob, const std::string& file) {
  Json j = Json::object();
  j["blob_range"] = std::move(blob);
  return json_text(j, file);
}

DeployFile activation_blob_range(const DeployInput& in, const std::string& file,
                                 const std::function<Json(const std::string&, const Range&)>& entry) {
  RangeTable table(in, file);
  Json blob = Json::object();
  for (const auto& t : table.activations()) blob[t] = entry(t, table.need_tensor(t, "an activation"));
  return {file, blob_range_text(std::move(blob), file)};
}

}  // namespace dpl::deploy
