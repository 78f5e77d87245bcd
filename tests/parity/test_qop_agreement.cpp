// The QOperator model agrees with the QDQ model (issue 4 item 2; SPEC 11). For the bundled
// example and every model of ../shared/models (all have Conv or MatMul), on trt (per-channel
// symmetric int8) and snpe (per-tensor asymmetric uint8): `dipoorlet -A minmax --quant_format
// QOP` calibrates on 2 real samples and writes quant_model.onnx and qop_model.onnx; on 2 other
// real samples (so values also saturate outside the calibrated ranges) ONNX Runtime runs
// qop_model.onnx (all graph optimizations, its integer kernels) and quant_model.onnx (no graph
// optimizations: every Q/DQ and float operator as the ONNX definitions say, i.e. the
// simulation), and every output must reach a cosine >= 0.999 over its samples. This
// project's runtime (dipoorlet-infer) runs qop_model.onnx too and must agree with ONNX Runtime
// on it to 0.9999. Figures are printed per output.
//
// Skipped, with the reason, when ../shared, node or onnxruntime-node is absent. The large
// onnx-light models are left out (their constant-filled weights make 100 MB - 550 MB models
// whose loading dominates the time; the FP32 and QDQ suites cover them).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
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
constexpr int kThreads = 2;
constexpr int kCalibSamples = 2;
constexpr int kEvalSamples = 2;
const fs::path kDipoorlet = fs::path(DPL_BINARY_DIR) / "dipoorlet";
const std::vector<std::string> kPlatforms{"trt", "snpe"};
const std::set<std::string> kLeftOut{"light_bvlc_alexnet", "light_vgg19", "light_zfnet512"};

struct QopCase {
  ParityCase model;
  std::string platform;
};

void PrintTo(const QopCase& c, std::ostream* os) { *os << c.model.name << "_" << c.platform; }

std::vector<QopCase> all_cases() {
  std::vector<QopCase> c;
  for (const auto& m : all_parity_cases()) {
    if (kLeftOut.count(m.name)) continue;
    for (const auto& p : kPlatforms) c.push_back({m, p});
  }
  return c;
}

std::string fmt(double v, int digits) {
  std::ostringstream s;
  s << std::setprecision(digits) << v;
  return s.str();
}

class QopAgreement : public ::testing::TestWithParam<QopCase> {};

TEST_P(QopAgreement, OnnxRuntimeRunsTheQopModelAsTheQdqModel) {
  const ParityCase& pc = GetParam().model;
  const std::string& platform = GetParam().platform;
  const std::string tag = "[qop-agreement] " + pc.name + " " + platform;
  const fs::path work = fs::path(DPL_BINARY_DIR) / "qop_agreement" / (pc.name + "_" + platform);
  const fs::path model = pc.model.empty() ? work / "example" / "tiny_cnn.onnx" : kModels / pc.model;
  if (!pc.model.empty() && !fs::exists(model)) GTEST_SKIP() << "shared model not present: " << model;
  if (!node_available()) GTEST_SKIP() << "node is not installed (run scripts/install_deps.sh)";
  if (!fs::exists(kOrtPackage))
    GTEST_SKIP() << "onnxruntime-node is not installed in tests/tools/node_modules (run scripts/install_deps.sh)";
  if (!pc.data.empty() && !fs::exists(pc.data)) GTEST_SKIP() << "shared data not present: " << pc.data;
  ASSERT_TRUE(fs::exists(kDipoorlet)) << kDipoorlet << " is not built";
  ASSERT_TRUE(fs::exists(kInfer)) << kInfer << " is not built";
  fs::remove_all(work);
  fs::create_directories(work);
  struct RemoveIfPassed {  // kept for diagnosis when the case fails
    fs::path dir;
    ~RemoveIfPassed() {
      std::error_code ec;
      if (!::testing::Test::HasFailure()) fs::remove_all(dir, ec);
    }
  } cleanup{work};
  const int total = kCalibSamples + kEvalSamples;
  if (pc.model.empty()) {
    int rc = run_command(quote(kMakeExample.string()) + " " + quote((work / "example").string()) + " " +
                             std::to_string(total),
                         work / "example.log");
    ASSERT_EQ(rc, 0) << "make-example failed:\n" << read_text(work / "example.log");
  }
  const auto inputs = OnnxGraph::load(model.string()).network_inputs();
  ASSERT_EQ(inputs.size(), 1u) << "the agreement cases feed single-input models";

  // Samples 0..total-1 made once; the first kEvalSamples are run, the others calibrate.
  const fs::path calib = work / "calib", eval = work / "eval";
  pc.make_inputs(calib, inputs[0], total);
  if (HasFatalFailure()) return;
  const fs::path in_calib = calib / file_safe_name(inputs[0]), in_eval = eval / file_safe_name(inputs[0]);
  fs::create_directories(in_eval);
  for (int i = 0; i < total; ++i) {
    const fs::path from = in_calib / (std::to_string(i) + ".bin");
    if (i < kEvalSamples) fs::rename(from, in_eval / (std::to_string(i) + ".bin"));
    else fs::rename(from, in_calib / (std::to_string(i - kEvalSamples) + ".bin"));
  }

  std::string shapes;
  for (const auto& s : pc.input_shapes) shapes += " --input_shape " + quote(s);
  const fs::path qdir = work / "quant";
  int rc = run_command(quote(kDipoorlet.string()) + " -M " + quote(model.string()) + " -I " + quote(calib.string()) +
                           " -N " + std::to_string(kCalibSamples) + " -O " + quote(qdir.string()) + " -D " +
                           platform + " -A minmax --quant_format QOP --threads " + std::to_string(kThreads) + shapes,
                       work / "dipoorlet.log");
  ASSERT_EQ(rc, 0) << "dipoorlet failed (exit " << rc << "):\n" << read_text(work / "dipoorlet.log");
  const fs::path qdq_model = qdir / "quant_model.onnx", qop_model = qdir / "qop_model.onnx";
  ASSERT_TRUE(fs::exists(qop_model)) << "dipoorlet wrote no " << qop_model;

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
  const fs::path ort_qop = work / "ort_qop", ort_qdq = work / "ort_qdq", ours = work / "ours_qop";
  if (!run_ort(qop_model, "all", ort_qop) || !run_ort(qdq_model, "disabled", ort_qdq)) return;
  rc = run_command(quote(kInfer.string()) + " -M " + quote(qop_model.string()) + common + " -O " + quote(ours.string()),
                   work / "ours.log");
  ASSERT_EQ(rc, 0) << "dipoorlet-infer failed on the QOP model (exit " << rc << "):\n" << read_text(work / "ours.log");

  std::set<std::string> outputs;
  for (const auto& e : fs::directory_iterator(ort_qdq))
    if (e.is_directory()) outputs.insert(e.path().filename().string());
  ASSERT_FALSE(outputs.empty()) << "ONNX Runtime wrote no outputs into " << ort_qdq;
  for (const auto& out : outputs) {
    OutputAgreement q, r;
    compare_output_files(ort_qop, ort_qdq, out, kEvalSamples, "ONNX Runtime (QOP)", "ONNX Runtime (QDQ)", q);
    if (HasFatalFailure()) return;
    compare_output_files(ours, ort_qop, out, kEvalSamples, "dipoorlet-infer (QOP)", "ONNX Runtime (QOP)", r);
    if (HasFatalFailure()) return;
    std::cout << tag << " output '" << out << "' (" << q.elements << " values): QOP vs QDQ (ORT) cosine "
              << fmt(q.cosine, 7) << " (worst sample " << fmt(q.worst_sample, 7) << ", max |diff| "
              << fmt(q.max_diff, 4) << "); QOP ours vs ORT cosine " << fmt(r.cosine, 9) << " (max |diff| "
              << fmt(r.max_diff, 4) << ")" << std::endl;
    EXPECT_GE(q.cosine, kMinCosine) << pc.name << " on " << platform << ": output '" << out
                                    << "' of qop_model.onnx differs from quant_model.onnx";
    EXPECT_GE(r.cosine, kRuntimeCosine) << pc.name << " on " << platform << ": output '" << out
                                        << "' of qop_model.onnx: dipoorlet-infer differs from ONNX Runtime";
  }
}

std::string case_name(const ::testing::TestParamInfo<QopCase>& info) {
  return info.param.model.name + "_" + info.param.platform;
}

INSTANTIATE_TEST_SUITE_P(Models, QopAgreement, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace dpl::test
