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

using WriteFn = std::vector<DeployFile> (*)(const DeployInput&);

// Which tensors' bit width a format writes down: none (the back end reads every range as an
// 8-bit one), the activations only (SNPE computes the weight encodings itself), or all.
enum class Bitwidth { None, Activations, All };

struct Writer {
  WriteFn write;
  Bitwidth bitwidth;
};

const std::map<std::string, Writer>& platform_writers() {
  using B = Bitwidth;
  static const std::map<std::string, Writer> w{
      {"trt", {deploy::trt_files, B::None}},     {"stpu", {deploy::stpu_files, B::None}},
      {"magicmind", {deploy::magicmind_files, B::None}}, {"rv", {deploy::rv_files, B::None}},
      {"atlas", {deploy::atlas_files, B::None}}, {"snpe", {deploy::snpe_files, B::Activations}},
      {"ti", {deploy::ti_files, B::None}},       {"imx", {deploy::imx_files, B::None}}};
  return w;
}

const std::map<std::string, Writer>& extra_writers() {
  // trt_cache refuses sub-8-bit tensors itself (deploy/trt_cache.cpp).
  static const std::map<std::string, Writer> w{{"trt_cache", {deploy::trt_cache_files, Bitwidth::All}},
                                                {"aimet", {deploy::aimet_files, Bitwidth::All}}};
  return w;
}

// Runs the writer; when its format cannot state the bits of some quantized tensor below 8
// bits, one warning names the files and those tensors (docs/deploy.md "Bit widths").
std::vector<DeployFile> run_writer(const Writer& w, const DeployInput& in) {
  std::vector<DeployFile> files = w.write(in);
  if (!in.qdq || w.bitwidth == Bitwidth::All) return files;
  const TensorPrecisions& tp = in.qdq->precision;
  std::vector<std::string> lost;
  for (const auto& t : tp.below_8bit())
    if (w.bitwidth == Bitwidth::None || tp.weights.count(t)) lost.push_back(fmt::format("{} ({} bits)", t,
        tp.weights.count(t) ? tp.weight(t).bits : tp.act(t).bits));
  if (lost.empty()) return files;
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.name);
  spdlog::warn("{} cannot state a bit width{}: the back end will quantize these {} tensor(s) at 8 bits, not as the "
               "QDQ model does: {}",
               fmt::join(names, ", "), w.bitwidth == Bitwidth::Activations ? " for weights" : "", lost.size(),
               fmt::join(lost, ", "));
  return files;
}

}  // namespace

std::vector<DeployFile> platform_deploy_files(const DeployInput& in) {
  auto it = platform_writers().find(in.platform.name);
  DPL_CHECK(it != platform_writers().end(), "no deploy files are defined for platform '{}'", in.platform.name);
  return run_writer(it->second, in);
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
  return run_writer(it->second, in);
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
