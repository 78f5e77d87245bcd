// The {"blob_range": {tensor: entry}} JSON file that several back ends write (TensorRT,
// MagicMind, TI, i.MX): one entry per tensor, in graph order. The back ends differ only in
// what an entry holds.
#pragma once
#include <functional>
#include <string>

#include "deploy/deploy_common.h"

namespace dpl::deploy {

// {"blob_range": blob} as the text of `file`.
std::string blob_range_text(Json blob, const std::string& file);

// The file with one entry per activation (RangeTable::activations()): entry(name, range)
// of its per-tensor range (RangeTable::need_tensor).
DeployFile activation_blob_range(const DeployInput& in, const std::string& file,
                                 const std::function<Json(const std::string&, const Range&)>& entry);

}  // namespace dpl::deploy
