// ti_blob_range.txt (one line "name lo hi" per activation, numbers as Python prints them) and
// ti_blob_range.json ({"blob_range": {tensor: [lo, hi]}}), the original's deploy_ti.py: the
// raw ranges, for TIDL's own calibration options and for NART.
#include <spdlog/spdlog.h>

#include "deploy/backends.h"
#include "deploy/range_blob.h"

namespace dpl::deploy {

std::vector<DeployFile> ti_files(const DeployInput& in) {
  const std::string txt_file = "ti_blob_range.txt", json_file = "ti_blob_range.json";
  std::string txt;
  DeployFile json = activation_blob_range(in, json_file, [&](const std::string& t, const Range& r) {
    // A name with a space or a line break would break the line format (the original writes
    // it anyway); it is left out of the text file and kept in the JSON file.
    if (plain_text_name(t))
      txt += t + " " + py_float(r.lo) + " " + py_float(r.hi) + "\n";
    else
      spdlog::warn("{}: tensor name '{}' holds whitespace or control characters; its range is only in {}", txt_file,
                   t, json_file);
    return Json::array({static_cast<double>(r.lo), static_cast<double>(r.hi)});
  });
  return {{txt_file, txt}, std::move(json)};
}

}  // namespace dpl::deploy
