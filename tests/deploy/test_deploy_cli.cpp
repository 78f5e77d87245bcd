// `dipoorlet -D <platform>` writes the platform's deploy files (and --deploy_extra's) into the
// output folder, each logged; an unknown --deploy_extra is a usage error. Runs on the bundled
// example (make-example), so no shared data is needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "cli_fixture.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

// dipoorlet on the example, 4 samples, minmax.
class DeployCli : public CliTest {
 protected:
  DeployCli() : CliTest("deploy_tests/cli", 4, "-A minmax", 120) {}
};

TEST_F(DeployCli, EveryPlatformWritesItsFilesAndTheExtras) {
  const std::map<std::string, std::vector<std::string>> files{
      {"trt", {"trt_clip_val.json"}},
      {"stpu", {"stpu_minmax.json"}},
      {"magicmind", {"magicmind_quant_param.json"}},
      {"rv", {"rv_quantized_param.yaml", "rv_quantized_param.json", "rk_quantized_param.yaml",
              "rk_quantized_param.json"}},
      {"atlas", {"atlas_quant_param.json"}},
      {"snpe", {"snpe_encodings.json"}},
      {"ti", {"ti_blob_range.txt", "ti_blob_range.json"}},
      {"imx", {"imx_scale.json"}}};
  for (const auto& [p, names] : files) {
    const std::string out = "out_" + p;
    const std::string extra = p == "stpu" ? " --stpu_wg" : "";
    ASSERT_EQ(run_example(out, "-D " + p + " --deploy_extra trt_cache aimet" + extra), 0)
        << p << ":\n" << read_text(work_ / (out + ".log"));
    const std::string log = read_text(work_ / (out + ".log"));
    std::vector<std::string> all = names;
    all.push_back("trt_calib.cache");
    all.push_back("aimet_encodings.json");
    for (const auto& n : all) {
      const fs::path f = work_ / out / n;
      EXPECT_TRUE(fs::is_regular_file(f)) << p << ": no " << f;
      EXPECT_NE(log.find("wrote " + f.string() + " ("), std::string::npos) << p << ": " << n << " not logged";
    }
  }
  // stpu with --stpu_wg marks the example's 3x3 stride-1 convolutions.
  EXPECT_NE(read_text(work_ / "out_stpu" / "stpu_minmax.json").find("\"wg\": true"), std::string::npos);
}

TEST_F(DeployCli, UnknownDeployExtraIsAUsageError) {
  EXPECT_EQ(run_example("out_bad_extra", "-D trt --deploy_extra onnx_qop"), 105);
  EXPECT_NE(read_text(work_ / "out_bad_extra.log").find("onnx_qop"), std::string::npos);
  EXPECT_FALSE(fs::exists(work_ / "out_bad_extra" / "trt_clip_val.json"));
}

}  // namespace
}  // namespace dpl::test
