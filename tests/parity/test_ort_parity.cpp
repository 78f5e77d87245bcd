// FP32 parity with ONNX Runtime on the real models in ../shared/models: the same inputs
// (real photographs with each model's documented preprocessing, MNIST digits, fixed values
// for the constant-weight onnx-light models) go through `dipoorlet-infer` and through
// tests/tools/ort_run.js (onnxruntime-node), and every output must have a
// cosine similarity >= 0.99999 with ONNX Runtime's (over all samples of the output). Cosine and
// max |difference| are printed per output.
// Skipped, with the reason, when the shared models are absent, when node or onnxruntime-node
// is not installed (scripts/install_deps.sh installs both), or when the runtime lacks one
// of the model's operators.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "parity/parity_util.h"
#include "optimizer/prepare.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

constexpr double kMinCosine = 0.99999;
constexpr int kThreads = 2;

class OrtParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(OrtParity, OutputsMatchOnnxRuntime) {
  const ParityCase& pc = GetParam();
  const fs::path work = fs::path(DPL_BINARY_DIR) / "parity" / pc.name;
  CaseStart start;
  start_case(pc, work, pc.samples, {}, start);
  if (!start.skip.empty()) GTEST_SKIP() << start.skip;
  if (HasFatalFailure()) return;
  const fs::path& run_model = start.run_model;

  OnnxGraph g;
  try {
    g = OnnxGraph::load(run_model.string());
    prepare_model(g);
  } catch (const std::exception& e) {
    FAIL() << "the model does not go through the load sequence: " << e.what();
  }
  auto missing = missing_ops(g);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    std::cout << "[parity] " << pc.name << ": skipped, the runtime lacks " << list << std::endl;
    GTEST_SKIP() << "the runtime lacks operator(s): " << list;
  }
  ASSERT_TRUE(fs::exists(kInfer)) << kInfer << " is not built";

  const fs::path in = work / "inputs", ours = work / "ours", ort = work / "ort";
  auto inputs = g.network_inputs();
  ASSERT_EQ(inputs.size(), 1u) << "the parity cases feed single-input models";
  fs::create_directories(in / file_safe_name(inputs[0]));
  pc.make_inputs(in, inputs[0], pc.samples);
  if (HasFatalFailure()) return;

  std::string common = " -M " + quote(run_model.string()) + " -I " + quote(in.string()) + " -N " +
                       std::to_string(pc.samples) + " --threads " + std::to_string(kThreads);
  for (const auto& s : pc.input_shapes) common += " --input_shape " + quote(s);
  int rc = run_command(quote(kInfer.string()) + common + " -O " + quote(ours.string()), work / "ours.log");
  ASSERT_EQ(rc, 0) << "dipoorlet-infer failed (exit " << rc << "):\n" << read_text(work / "ours.log");
  rc = run_command("node " + quote(kOrtScript.string()) + common + " -O " + quote(ort.string()), work / "ort.log");
  ASSERT_EQ(rc, 0) << "ort_run.js failed (exit " << rc << "):\n" << read_text(work / "ort.log");

  auto outputs = g.network_outputs();
  ASSERT_FALSE(outputs.empty());
  // One cosine per output over all its samples, plus the worst single-sample cosine and the
  // largest absolute difference for information (parity_util.h).
  for (const auto& out : outputs) {
    OutputAgreement r;
    compare_output_files(ours, ort, out, pc.samples, "dipoorlet-infer", "ONNX Runtime", r);
    if (HasFatalFailure()) return;
    std::cout << "[parity] " << pc.name << " output '" << out << "' (" << pc.samples << " samples, " << r.elements
              << " values): cosine " << std::setprecision(9) << r.cosine << " (worst sample " << r.worst_sample
              << "), max |diff| " << std::setprecision(4) << r.max_diff << std::endl;
    EXPECT_GE(r.cosine, kMinCosine) << "output '" << out << "' differs from ONNX Runtime (max |diff| " << r.max_diff
                                    << ")";
    EXPECT_FALSE(std::isnan(r.max_diff)) << "output '" << out << "': NaN where ONNX Runtime has a number or back";
  }
}

std::string case_name(const ::testing::TestParamInfo<ParityCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Models, OrtParity, ::testing::ValuesIn(all_parity_cases()), case_name);

}  // namespace
}  // namespace dpl::test
