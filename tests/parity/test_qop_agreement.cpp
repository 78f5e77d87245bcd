// The QOperator model agrees with the QDQ model (docs/spec.md 11, docs/qop.md). For the bundled
// example and the models of ../shared/models (all have Conv or MatMul), on trt (per-channel
// symmetric int8) and snpe (per-tensor asymmetric uint8): `dipoorlet -A minmax --quant_format
// QOP` calibrates on 2 real samples and writes quant_model.onnx and qop_model.onnx; on 2 other
// real samples (so values also saturate outside the calibrated ranges) ONNX Runtime runs both
// as written (graph optimizations off), and every output of qop_model.onnx must reach a cosine
// >= 0.999 with quant_model.onnx's over its samples. This project's runtime (dipoorlet-infer)
// runs qop_model.onnx too and must agree with ONNX Runtime on it to 0.9999.
//
// Deep quantized networks are chaotic (see test_qdq_agreement.cpp): when a figure misses its
// bar, the network's own sensitivity is measured and the figure must lie within kChaosFactor
// times its distance (1 - cosine). For the QOP model the yardstick is ONNX Runtime's optimized
// execution of quant_model.onnx against its reference execution: with optimizations ORT itself
// fuses DequantizeLinear -> Conv -> QuantizeLinear into QLinearConv, the very rewrite the QOP
// model makes. For our runtime it is our execution of quant_model.onnx against ORT's.
//
// Left out, as printed by the cases: the onnx-light models on snpe and the three largest
// (alexnet, vgg19, zfnet512: 100-550 MB of constant-filled weights whose loading dominates
// the time; test_ort_parity.cpp and test_qdq_agreement.cpp cover them); the onnx-light models
// run with three intermediate activations as extra outputs (their final outputs are uniform).
// On snpe the QOP models hold uint8 weights (w - w_zero_point does not fit int8): our runtime
// runs them on oneDNN's int8 convolution with offset terms (docs/qop.md, "Integer kernels").
//
// Skipped, with the reason, when ../shared, node or onnxruntime-node is absent.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "parity/parity_util.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

constexpr double kMinCosine = 0.999;       // QOP (ORT) vs QDQ (ORT)
constexpr double kRuntimeCosine = 0.9999;  // QOP: ours vs ORT
constexpr double kChaosFactor = 4.0;      // allowed multiple of the yardstick's distance
constexpr int kThreads = 2;
constexpr int kCalibSamples = 2;
constexpr int kEvalSamples = 2;
const std::vector<std::string> kPlatforms{"trt", "snpe"};
const std::set<std::string> kLeftOut{"light_bvlc_alexnet", "light_vgg19", "light_zfnet512"};

std::vector<PlatformCase> all_cases() {
  std::vector<PlatformCase> c;
  for (const auto& m : all_parity_cases()) {
    if (kLeftOut.count(m.name)) continue;
    for (const auto& p : kPlatforms)
      if (p == "trt" || !m.intermediates) c.push_back({m, p});
  }
  return c;
}

std::string fmt(double v, int digits) {
  std::ostringstream s;
  s << std::setprecision(digits) << v;
  return s.str();
}

// Seconds since construction or the previous lap().
class Stopwatch {
 public:
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// The work folder is kept when DPL_QOP_KEEP is set.
class QopAgreement : public AgreementTest {
 protected:
  QopAgreement() : AgreementTest("qop_agreement", kCalibSamples + kEvalSamples, "DPL_QOP_KEEP") {}
};

TEST_P(QopAgreement, OnnxRuntimeRunsTheQopModelAsTheQdqModel) {
  const ParityCase& pc = GetParam().model;
  const std::string& platform = GetParam().platform;
  const std::string tag = "[qop-agreement] " + pc.name + " " + platform;
  const fs::path& work = work_;
  const fs::path& run_model = start_.run_model;
  const int total = kCalibSamples + kEvalSamples;
  const auto inputs = OnnxGraph::load(run_model.string()).network_inputs();
  ASSERT_EQ(inputs.size(), 1u) << "the agreement cases feed single-input models";

  // Samples 0..total-1 made once; the first kEvalSamples are run, the others calibrate.
  const fs::path calib = work / "calib", eval = work / "eval";
  const fs::path in_calib = calib / file_safe_name(inputs[0]), in_eval = eval / file_safe_name(inputs[0]);
  fs::create_directories(in_calib);
  fs::create_directories(in_eval);
  pc.make_inputs(calib, inputs[0], total);
  if (HasFatalFailure()) return;
  for (int i = 0; i < total; ++i) {
    const fs::path from = in_calib / (std::to_string(i) + ".bin");
    if (i < kEvalSamples) fs::rename(from, in_eval / (std::to_string(i) + ".bin"));
    else fs::rename(from, in_calib / (std::to_string(i - kEvalSamples) + ".bin"));
  }

  std::string shapes;
  for (const auto& s : pc.input_shapes) shapes += " --input_shape " + quote(s);
  const fs::path qdir = work / "quant";
  Stopwatch clock;
  int rc = run_command(quote(kDipoorlet.string()) + " -M " + quote(run_model.string()) + " -I " +
                           quote(calib.string()) + " -N " + std::to_string(kCalibSamples) + " -O " +
                           quote(qdir.string()) + " -D " + platform +
                           " -A minmax --skip_prof_layer --quant_format QOP --threads " + std::to_string(kThreads) +
                           shapes,
                       work / "dipoorlet.log");
  const double t_quant = clock.lap();
  ASSERT_EQ(rc, 0) << "dipoorlet failed (exit " << rc << "):\n" << read_text(work / "dipoorlet.log");
  const fs::path qdq_model = qdir / "quant_model.onnx", qop_model = qdir / "qop_model.onnx";
  ASSERT_TRUE(fs::exists(qop_model)) << "dipoorlet wrote no " << qop_model;
  {  // what the QOP model is made of (dipoorlet's summary line)
    std::ifstream log(work / "dipoorlet.log");
    for (std::string line; std::getline(log, line);)
      if (auto at = line.find("QOP model: "); at != std::string::npos) std::cout << tag << ": " << line.substr(at) << "\n";
  }

  const std::string common = " -I " + quote(eval.string()) + " -N " + std::to_string(kEvalSamples) + " --threads " +
                             std::to_string(kThreads) + shapes;
  auto run_ort = [&](const fs::path& m, const std::string& level, const fs::path& out) {
    int r = run_command("node " + quote(kOrtScript.string()) + " -M " + quote(m.string()) + common + " --opt_level " +
                            level + " -O " + quote(out.string()),
                        out.string() + ".log");
    EXPECT_EQ(r, 0) << "ONNX Runtime (--opt_level " << level << ") failed on " << m << " (exit " << r << "):\n"
                    << read_text(out.string() + ".log");
    return r == 0;
  };
  auto run_ours = [&](const fs::path& m, const fs::path& out) {
    int r = run_command(quote(kInfer.string()) + " -M " + quote(m.string()) + common + " -O " + quote(out.string()),
                        out.string() + ".log");
    EXPECT_EQ(r, 0) << "dipoorlet-infer failed on " << m << " (exit " << r << "):\n" << read_text(out.string() + ".log");
    return r == 0;
  };
  const fs::path ort_qop = work / "ort_qop", ort_qdq = work / "ort_qdq", ours_qop = work / "ours_qop";
  if (!run_ort(qop_model, "disabled", ort_qop) || !run_ort(qdq_model, "disabled", ort_qdq)) return;
  const double t_ort = clock.lap();
  if (!run_ours(qop_model, ours_qop)) return;
  const double t_ours = clock.lap();
  std::cout << tag << ": dipoorlet " << fmt(t_quant, 3) << " s, ONNX Runtime on both models " << fmt(t_ort, 3)
            << " s, dipoorlet-infer on qop_model.onnx "
            << fmt(t_ours, 3) << " s" << std::endl;

  std::set<std::string> outputs;
  for (const auto& e : fs::directory_iterator(ort_qdq))
    if (e.is_directory()) outputs.insert(e.path().filename().string());
  ASSERT_FALSE(outputs.empty()) << "ONNX Runtime wrote no outputs into " << ort_qdq;
  std::map<std::string, OutputAgreement> model_agree, runtime_agree;
  bool strict = true;
  for (const auto& out : outputs) {
    OutputAgreement& q = model_agree[out];
    OutputAgreement& r = runtime_agree[out];
    compare_output_files(ort_qop, ort_qdq, out, kEvalSamples, "ONNX Runtime (QOP)", "ONNX Runtime (QDQ)", q);
    if (HasFatalFailure()) return;
    compare_output_files(ours_qop, ort_qop, out, kEvalSamples, "dipoorlet-infer (QOP)", "ONNX Runtime (QOP)", r);
    if (HasFatalFailure()) return;
    std::cout << tag << " output '" << out << "' (" << q.elements << " values): QOP vs QDQ (ORT) cosine "
              << fmt(q.cosine, 7) << " (worst sample " << fmt(q.worst_sample, 7) << ", max |diff| "
              << fmt(q.max_diff, 4) << "); QOP, ours vs ORT: cosine " << fmt(r.cosine, 9) << " (max |diff| "
              << fmt(r.max_diff, 4) << ")" << std::endl;
    EXPECT_FALSE(std::isnan(q.max_diff) || std::isnan(r.max_diff)) << "output '" << out << "': NaN on one side";
    strict &= q.cosine >= kMinCosine && r.cosine >= kRuntimeCosine;
  }
  if (strict) return;

  // Chaotic networks (see test_qdq_agreement.cpp): yardsticks of the network's own
  // sensitivity. For the QOP model: ONNX Runtime's integer execution of quant_model.onnx
  // (graph optimizations on: it fuses DequantizeLinear -> Conv -> QuantizeLinear into its
  // QLinearConv, the very rewrite the QOP model makes) against its reference execution. For
  // our runtime: our execution of quant_model.onnx against ONNX Runtime's (the QDQ agreement
  // suite's subject).
  const fs::path ort_qdq_all = work / "ort_qdq_all", ours_qdq = work / "ours_qdq";
  if (!run_ort(qdq_model, "all", ort_qdq_all) || !run_ours(qdq_model, ours_qdq)) return;
  auto judge = [&](const std::string& out, const OutputAgreement& got, double min_cos, const fs::path& a,
                   const fs::path& b, const std::string& what, const std::string& yardstick) {
    if (got.cosine >= min_cos) return;
    OutputAgreement f;
    compare_output_files(a, b, out, kEvalSamples, "yardstick A", "yardstick B", f);
    if (HasFatalFailure()) return;
    const bool ok = f.cosine < min_cos && 1.0 - got.cosine <= kChaosFactor * (1.0 - f.cosine);
    std::cout << tag << " output '" << out << "': " << what << " below " << min_cos << "; " << yardstick
              << ": cosine " << fmt(f.cosine, 7) << (ok ? " -> within the network's own sensitivity"
                                                         : " -> NOT explained by the network's sensitivity")
              << std::endl;
    EXPECT_TRUE(ok) << pc.name << " on " << platform << ", output '" << out << "': " << what << " cosine "
                    << fmt(got.cosine, 7) << "; " << yardstick << " cosine " << fmt(f.cosine, 7);
  };
  for (const auto& out : outputs) {
    judge(out, model_agree[out], kMinCosine, ort_qdq_all, ort_qdq, "QOP vs QDQ (ORT)",
          "ORT's optimized vs reference execution of the QDQ model");
    judge(out, runtime_agree[out], kRuntimeCosine, ours_qdq, ort_qdq, "QOP, ours vs ORT",
          "ours vs ORT on the QDQ model");
  }
}

INSTANTIATE_TEST_SUITE_P(Models, QopAgreement, ::testing::ValuesIn(all_cases()), platform_case_name);

}  // namespace
}  // namespace dpl::test
