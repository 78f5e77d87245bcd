#include "deploy/deploy.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>

#include "deploy/backends.h"
#include "io/atomic_file.h"
#include "util/error.h"

namespace dpl {

namespace {

using Writer = std::vector<DeployFile> (*)(const DeployInput&);

const std::map<std::string, Writer>& platform_writers() {
  static const std::map<std::string, Writer> w{
      {"trt", deploy::trt_files},   {"stpu", deploy::stpu_files},   {"magicmind", deploy::magicmind_files},
      {"rv", deploy::rv_files},     {"atlas", deploy::atlas_files}, {"snpe", deploy::snpe_files},
      {"ti", deploy::ti_files},     {"imx", deploy::imx_files}};
  return w;
}

const std::map<std::string, Writer>& extra_writers() {
  static const std::map<std::string, Writer> w{{"trt_cache", deploy::trt_cache_files},
                                                {"aimet", deploy::aimet_files}};
  return w;
}

}  // namespace

std::vector<DeployFile> platform_deploy_files(const DeployInput& in) {
  auto it = platform_writers().find(in.platform.name);
  DPL_CHECK(it != platform_writers().end(), "no deploy files are defined for platform '{}'", in.platform.name);
  return it->second(in);
}

const std::vector<std::string>& deploy_extra_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, w] : extra_writers()) n.push_back(name);
    return n;
  }();
  return names;
}

std::vector<DeployFile> extra_deploy_files(const DeployInput& in, const std::string& extra) {
  auto it = extra_writers().find(extra);
  DPL_CHECK(it != extra_writers().end(), "unknown --deploy_extra '{}' (known: {})", extra,
            fmt::join(deploy_extra_names(), ", "));
  return it->second(in);
}

std::vector<std::string> write_deploy_files(const DeployInput& in, const std::vector<std::string>& extras,
                                            const std::string& out_dir) {
  // Everything is built before anything is written, so a missing range leaves no file.
  std::vector<DeployFile> files = platform_deploy_files(in);
  for (const auto& e : extras) {
    auto more = extra_deploy_files(in, e);
    files.insert(files.end(), more.begin(), more.end());
  }
  std::vector<std::string> paths;
  for (const auto& f : files) {
    const std::string path = (std::filesystem::path(out_dir) / f.name).string();
    write_file_atomic(path, f.content);
    spdlog::info("wrote {} ({} bytes)", path, f.content.size());
    paths.push_back(path);
  }
  return paths;
}

}  // namespace dpl
