// The real models in ../shared/models (beside the checkout), for tests that run over all of
// them. When the folder is absent (a user's machine) the list holds one empty name, and the
// test skips with a visible message naming the folder (see kSharedModels).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

namespace dpl::test {

inline const std::filesystem::path kSharedModels =
    std::filesystem::path(DPL_SOURCE_DIR) / ".." / "shared" / "models";

// "<folder>/<file>.onnx" of every model, sorted; empty when the folder is absent.
inline std::vector<std::string> list_shared_models() {
  namespace fs = std::filesystem;
  std::vector<std::string> r;
  if (!fs::is_directory(kSharedModels)) return r;
  for (const auto& d : fs::directory_iterator(kSharedModels)) {
    if (!d.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(d.path()))
      if (f.path().extension() == ".onnx") r.push_back(d.path().filename().string() + "/" + f.path().filename().string());
  }
  std::sort(r.begin(), r.end());
  return r;
}

// A gtest parameter name from a model path ("none" for the empty placeholder).
inline std::string model_param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param.empty() ? "none" : info.param;
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

}  // namespace dpl::test
