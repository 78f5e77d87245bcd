// Profiling on a real model against an independent reference: `dipoorlet -D imx` profiles
// YOLOX-Nano on 3 real photographs (../shared); ONNX Runtime (tests/tools/ort_run.js, no graph
// optimizations) then runs the FP32 model (prepared and BN-folded as the pipeline does, so
// tensor names match) and quant_model.onnx on the same samples, with some quantized node
// outputs made graph outputs: the six lowest of layer_res.json and six spread over the
// network. The per-sample cosines computed here from ONNX Runtime's tensors, averaged over the
// samples, must match layer_res.json, and the network output's average and minimum must
// match model_res.json. imx (power-of-two scales, quantized network output) is the platform
// whose QDQ models ONNX Runtime runs almost bit for bit like ours (see the QDQ agreement
// test): with trt, YOLOX-Nano's detection-head layers, whose cosines are near 0.3, move by up
// to 0.01 between the two runtimes from float summation order alone. The figures are printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "parity/parity_util.h"
#include "transform/bn_fold.h"
#include "optimizer/prepare.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

const fs::path kDipoorlet = fs::path(DPL_BINARY_DIR) / "dipoorlet";
constexpr int kSamples = 3;
constexpr double kTolerance = 1e-5;

// The original's per-sample cosine (0 when the dot product is 0), averaged; and the minimum.
std::pair<double, double> mean_min_cos(const fs::path& a, const fs::path& b, const std::string& t) {
  double sum = 0, lo = 1;
  for (int i = 0; i < kSamples; ++i) {
    const std::string f = file_safe_name(t) + "/" + std::to_string(i) + ".bin";
    auto x = read_floats(a / f), y = read_floats(b / f);
    EXPECT_EQ(x.size(), y.size()) << t;
    double d = 0, xx = 0, yy = 0;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) d += double(x[k]) * y[k], xx += double(x[k]) * x[k],
                                                           yy += double(y[k]) * y[k];
    const double c = d == 0 ? 0.0 : d / std::sqrt(xx) / std::sqrt(yy);
    sum += c;
    lo = std::min(lo, c);
  }
  return {sum / kSamples, lo};
}

TEST(ProfileRealModel, YoloxNanoLayerAndOutputCosinesMatchOnnxRuntime) {
  const fs::path model = kModels / "yolox-nano" / "yolox_nano.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << "shared model not present: " << model;
  if (!fs::exists(kImages)) GTEST_SKIP() << "shared images not present: " << kImages;
  if (!node_available()) GTEST_SKIP() << "node is not installed (run scripts/install_deps.sh)";
  if (!fs::exists(kOrtPackage)) GTEST_SKIP() << "onnxruntime-node is not installed (run scripts/install_deps.sh)";
  const fs::path work = fs::path(DPL_BINARY_DIR) / "profile_yolox";
  fs::remove_all(work);
  fs::create_directories(work);

  PreprocessOptions o = pre(416, 416, {0}, {1}, true);
  o.resize = ResizeMode::Letterbox;
  o.align = LetterboxAlign::TopLeft;
  o.pad_value = 114;
  fs::create_directories(work / "calib" / "images");
  images(o)(work / "calib", "images", kSamples);
  int rc = run_command(quote(kDipoorlet.string()) + " -M " + quote(model.string()) + " -I " +
                           quote((work / "calib").string()) + " -N " + std::to_string(kSamples) + " -O " +
                           quote((work / "out").string()) + " -D imx -A minmax --threads 2",
                       work / "dipoorlet.log");
  ASSERT_EQ(rc, 0) << read_text(work / "dipoorlet.log");

  auto layer = nlohmann::ordered_json::parse(std::ifstream(work / "out" / "layer_res.json"));
  auto res = nlohmann::json::parse(std::ifstream(work / "out" / "model_res.json"));
  std::vector<std::pair<double, std::string>> by_cos;
  std::vector<std::string> order;
  for (auto it = layer.begin(); it != layer.end(); ++it) {
    by_cos.emplace_back(it.value().get<double>(), it.key());
    order.push_back(it.key());
  }
  ASSERT_GE(order.size(), 20u);
  std::sort(by_cos.begin(), by_cos.end());
  std::set<std::string> picked;
  for (size_t i = 0; i < 6; ++i) picked.insert(by_cos[i].second);
  for (size_t k = 1; k <= 6; ++k) picked.insert(order[order.size() * k / 7]);

  OnnxGraph fp = OnnxGraph::load(model.string());
  prepare_model(fp);
  transform::fold_batchnorm(fp);
  OnnxGraph q = OnnxGraph::load((work / "out" / "quant_model.onnx").string());
  for (const auto& t : picked) {
    ASSERT_GE(fp.producer(t), 0) << "tensor " << t << " of layer_res.json is not in the prepared FP32 model";
    ASSERT_GE(q.producer(t), 0) << "tensor " << t << " of layer_res.json is not in quant_model.onnx";
    fp.add_network_output(t);
    q.add_network_output(t);
  }
  fp.save((work / "fp.onnx").string());
  q.save((work / "q.onnx").string());
  for (const char* m : {"fp", "q"}) {
    rc = run_command("node " + quote(kOrtScript.string()) + " -M " + quote((work / (std::string(m) + ".onnx")).string()) +
                         " -I " + quote((work / "calib").string()) + " -N " + std::to_string(kSamples) +
                         " --opt_level disabled -O " + quote((work / (std::string("ort_") + m)).string()),
                     work / (std::string("ort_") + m + ".log"));
    ASSERT_EQ(rc, 0) << read_text(work / (std::string("ort_") + m + ".log"));
  }

  for (const auto& t : picked) {
    const double ours = layer[t].get<double>();
    const double ort = mean_min_cos(work / "ort_fp", work / "ort_q", t).first;
    std::cout << "[profile-yolox] layer " << t << ": dipoorlet " << ours << ", ONNX Runtime " << ort << std::endl;
    EXPECT_NEAR(ours, ort, kTolerance) << "layer " << t;
  }
  auto prof = nlohmann::json::parse(std::ifstream(work / "out" / "profile.json"));
  const std::string q_out = prof["outputs"][0]["q_name"].get<std::string>();
  EXPECT_EQ(q_out, "output_dq");  // imx quantizes the network output
  // FP32 "output" against the QDQ model's dequantized output.
  double sum = 0, lo = 1;
  for (int i = 0; i < kSamples; ++i) {
    auto x = read_floats(work / "ort_fp" / "output" / (std::to_string(i) + ".bin"));
    auto y = read_floats(work / "ort_q" / file_safe_name(q_out) / (std::to_string(i) + ".bin"));
    ASSERT_EQ(x.size(), y.size());
    double d = 0, xx = 0, yy = 0;
    for (size_t k = 0; k < x.size(); ++k) d += double(x[k]) * y[k], xx += double(x[k]) * x[k], yy += double(y[k]) * y[k];
    const double c = d / std::sqrt(xx) / std::sqrt(yy);
    sum += c;
    lo = std::min(lo, c);
  }
  const double avg = sum / kSamples;
  std::cout << "[profile-yolox] output: dipoorlet avg " << res["output"][0] << " min " << res["output"][1]
            << ", ONNX Runtime avg " << avg << " min " << lo << std::endl;
  EXPECT_NEAR(res["output"][0].get<double>(), avg, kTolerance);
  EXPECT_NEAR(res["output"][1].get<double>(), lo, kTolerance);
}

}  // namespace
}  // namespace dpl::test
