// The weight-transform flags of `dipoorlet` end to end (cli/stage_transform.h): on the
// bundled example (Conv/BN/Relu, residual Add, Gemm) and on the PP-OCR angle classifier
// (MobileNetV3-like, Conv -> Relu -> Conv pairs, BNs), with a few samples: the
// intermediate models are written in the documented order, BNs are folded unless
// --keep_bn, and the equalized model computes what the input model computes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "calib/sample_source.h"
#include "cli_fixture.h"
#include "parity/parity_util.h"
#include "transform/transform_test_util.h"
#include "optimizer/prepare.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

// Only the example tests make the example (make_example(4)); the PP-OCR one does not need it.
class TransformCli : public CliTest {
 protected:
  TransformCli() : CliTest("transform_cli_tests", 0) {}

  // dipoorlet -A minmax --threads 2 <args> -O <work>/<out>; returns the exit code.
  int dipoorlet(const std::vector<std::string>& args, const std::string& out) {
    std::string cmd = quote(kDipoorlet.string()) + " -A minmax --threads 2 -O " + quote((work_ / out).string());
    for (const auto& a : args) cmd += " " + quote(a);
    const int rc = run_command(cmd, work_ / (out + ".log"), 300);
    log_ = read_whole_text(work_ / (out + ".log"));
    return rc;
  }

  // FP32 output `output` of two models on samples 0..n-1 of `data_dir`: cosine.
  static double fp32_cosine(const fs::path& a, const fs::path& b, const fs::path& data_dir, int n,
                            const std::string& output, const std::vector<std::pair<std::string, Shape>>& shapes = {}) {
    OnnxGraph ga = OnnxGraph::load(a.string()), gb = OnnxGraph::load(b.string());
    prepare_model(ga);
    prepare_model(gb);
    auto inputs = FolderSampleSource::graph_inputs(ga);
    for (auto& in : inputs)
      for (const auto& [name, shape] : shapes)
        if (in.name == name) in.shape = shape;
    FolderSampleSource data(data_dir.string(), inputs, n);
    std::vector<TensorMap> samples;
    for (int i = 0; i < n; ++i) samples.push_back(data.batch(i, 1));
    return cosine(run_all(ga, samples, output), run_all(gb, samples, output));
  }

  static std::string tail(const std::string& s) { return s.size() > 3000 ? "..." + s.substr(s.size() - 3000) : s; }

  std::string log_;  // console output of the last dipoorlet run
};

TEST_F(TransformCli, ExampleWritesEachStepsModelInOrderAndFoldsBn) {
  make_example(4);
  const std::string model = example_model().string();
  const std::string calib = example_calib().string();
  ASSERT_EQ(dipoorlet({"-M", model, "-I", calib, "-N", "4", "-D", "snpe", "--update_bn", "--bc", "--we"}, "all"), 0)
      << tail(log_);
  for (const char* f :
       {"update_bn_model.onnx", "update_bias_model.onnx", "weight_equal_model.onnx", "quant_model.onnx"})
    EXPECT_TRUE(fs::exists(work_ / "all" / f)) << f;
  // BN update first (on the BN nodes), then folding, bias correction, equalization.
  const size_t bn = log_.find("update BN:"), fold = log_.find("BN folding:"), bc = log_.find("bias correction:"),
               we = log_.find("weight equalization:");
  ASSERT_NE(bn, std::string::npos) << tail(log_);
  EXPECT_LT(bn, fold);
  EXPECT_LT(fold, bc);
  EXPECT_LT(bc, we);
  EXPECT_EQ(count_ops(OnnxGraph::load((work_ / "all" / "quant_model.onnx").string()), "BatchNormalization"), 0);
  EXPECT_EQ(count_ops(OnnxGraph::load((work_ / "all" / "update_bn_model.onnx").string()), "BatchNormalization"), 0);

  ASSERT_EQ(dipoorlet({"-M", model, "-I", calib, "-N", "2", "-D", "trt", "--keep_bn"}, "keep"), 0) << tail(log_);
  EXPECT_EQ(count_ops(OnnxGraph::load((work_ / "keep" / "quant_model.onnx").string()), "BatchNormalization"), 7);

  EXPECT_NE(dipoorlet({"-M", model, "-I", calib, "-N", "2", "-D", "trt", "--we_absorb"}, "absorb"), 0);
  EXPECT_NE(log_.find("--we"), std::string::npos) << tail(log_);
}

TEST_F(TransformCli, ExampleEqualizedModelComputesTheSame) {
  make_example(4);
  const fs::path model = example_model(), calib = example_calib();
  ASSERT_EQ(dipoorlet({"-M", model.string(), "-I", calib.string(), "-N", "4", "-D", "trt", "--we"}, "we"), 0)
      << tail(log_);
  EXPECT_NE(log_.find("2 pair(s), converged"), std::string::npos) << tail(log_);
  EXPECT_GE(fp32_cosine(model, work_ / "we" / "weight_equal_model.onnx", calib, 4, "logits"), 0.999999);
}

TEST_F(TransformCli, PpocrClsEqualizesAndCorrects) {
  const auto cases = all_parity_cases();
  const auto it = std::find_if(cases.begin(), cases.end(), [](const ParityCase& c) { return c.name == "ppocr_cls"; });
  ASSERT_NE(it, cases.end());
  if (!fs::exists(kModels / it->model) || !fs::exists(kImages))
    GTEST_SKIP() << "needs " << kModels / it->model << " and " << kImages << " (../shared beside the checkout)";
  const fs::path model = kModels / it->model, data = work_ / "data";
  fs::create_directories(data / "x");
  it->make_inputs(data, "x", 3);
  ASSERT_EQ(dipoorlet({"-M", model.string(), "-I", data.string(), "-N", "3", "-D", "snpe", "--input_shape",
                       "x:1,3,48,192", "--we", "--we_absorb"},
                      "we"),
            0)
      << tail(log_);
  EXPECT_NE(log_.find("15 pair(s), converged"), std::string::npos) << tail(log_);
  EXPECT_NE(log_.find("high-bias absorption: 10 pair(s)"), std::string::npos) << tail(log_);
  // Absorption is exact on the calibration samples (where the shifted channels stay >= 0).
  EXPECT_GE(fp32_cosine(model, work_ / "we" / "weight_equal_model.onnx", data, 3, "softmax_0.tmp_0",
                        {{"x", {1, 3, 48, 192}}}),
            0.999999);
  ASSERT_EQ(dipoorlet({"-M", model.string(), "-I", data.string(), "-N", "2", "-D", "trt", "--input_shape",
                       "x:1,3,48,192", "--bc", "--update_bn"},
                      "bc"),
            0)
      << tail(log_);
  EXPECT_TRUE(fs::exists(work_ / "bc" / "update_bias_model.onnx"));
  EXPECT_TRUE(fs::exists(work_ / "bc" / "update_bn_model.onnx"));
}

}  // namespace
}  // namespace dpl::test
