// The real models in ../shared/models (beside the checkout), for tests that run over all of
// them. When the folder is absent (a user's machine) the list holds one empty name, and the
// test skips with a visible message naming the folder (see kSharedModels).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/session.h"

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

// Sizes for the symbolic input dimensions of the PP-OCR models (models/README.md: the
// detector takes 640x640; a test may choose a smaller side); empty for the other models.
inline std::map<std::string, Shape> ppocr_input_shapes(const std::string& model, int64_t det_side = 640) {
  if (model.find("ch_PP-OCRv4_det") != std::string::npos) return {{"x", {1, 3, det_side, det_side}}};
  if (model.find("ch_PP-OCRv4_rec") != std::string::npos) return {{"x", {1, 3, 48, 320}}};
  if (model.find("ch_ppocr_mobile_v2.0_cls") != std::string::npos) return {{"x", {1, 3, 48, 192}}};
  return {};
}

// A Session on `g`, or null with the runtime's message in `unsupported` when the runtime lacks
// one of the model's operators ("does not support"; the tests skip such a model). Other errors
// are thrown on.
inline std::unique_ptr<Session> session_unless_unsupported(const OnnxGraph& g, std::string& unsupported) {
  try {
    return std::make_unique<Session>(g);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find("does not support") == std::string::npos) throw;
    unsupported = msg;
    return nullptr;
  }
}

// A gtest parameter name from a model path ("none" for the empty placeholder).
inline std::string model_param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param.empty() ? "none" : info.param;
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

}  // namespace dpl::test
