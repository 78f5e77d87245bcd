// -A lp|kl|output and --w_range minmax|mse|output end to end on the bundled example: each runs and
// writes its ranges inside the min/max ones (without the weights' gain correction; with it,
// the log says so), the output-aware run logs its choices, --help
// names them, and a bad value is one clear error with nothing written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli_fixture.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

class CaliRangeFlagsCli : public CliTest {
 protected:
  CaliRangeFlagsCli() : CliTest("range_flags_cli_tests", 4, "-D magicmind --threads 1 --skip_prof_layer") {}

  nlohmann::json json(const std::string& out, const std::string& file) const {
    std::ifstream f(work_ / out / file);
    return nlohmann::json::parse(f);
  }
  std::string text(const std::string& file) const { return read_whole_text(work_ / file); }
};

TEST_F(CaliRangeFlagsCli, EveryMethodRunsInsideTheMinMaxRanges) {
  ASSERT_EQ(run_example("minmax", "-A minmax"), 0) << text("minmax.log");
  const auto mm = json("minmax", "act_clip_val.json"), wmm = json("minmax", "weight_clip_val.json");
  for (const std::string a : {"lp", "kl", "output"}) {
    const std::string wr = a == "kl" ? "output" : "mse";
    // Without the gain correction the searched weight ranges lie inside the min/max ones.
    ASSERT_EQ(run_example(a, "-A " + a + " --w_range " + wr + " --no_weight_gain"), 0) << text(a + ".log");
    const auto r = json(a, "act_clip_val.json");
    ASSERT_EQ(r.size(), mm.size()) << a;
    for (const auto& [name, range] : mm.items()) {
      EXPECT_GE(r[name][0].get<float>(), range[0].get<float>()) << a << " " << name;
      EXPECT_LE(r[name][1].get<float>(), range[1].get<float>()) << a << " " << name;
    }
    const auto w = json(a, "weight_clip_val.json");
    for (const auto& [name, ch] : wmm.items())
      for (size_t c = 0; c < ch[1].size(); ++c) {
        EXPECT_LE(w[name][1][c].get<float>(), ch[1][c].get<float>()) << name;
        EXPECT_GE(w[name][0][c].get<float>(), ch[0][c].get<float>()) << name;
      }
    EXPECT_TRUE(fs::exists(work_ / a / "quant_model.onnx")) << a;
  }
  EXPECT_NE(text("output.log").find("output-aware ranges:"), std::string::npos) << text("output.log");
  EXPECT_NE(text("kl.log").find("output-aware weight ranges:"), std::string::npos) << text("kl.log");
  EXPECT_EQ(text("kl.log").find("add --bc"), std::string::npos) << text("kl.log");  // its search sees the means
  // --w_range mse without --bc says to add it; with it, nothing is said.
  EXPECT_NE(text("lp.log").find("add --bc"), std::string::npos) << text("lp.log");
  ASSERT_EQ(run_example("mse_bc", "-A minmax --w_range mse --bc"), 0) << text("mse_bc.log");
  EXPECT_EQ(text("mse_bc.log").find("add --bc"), std::string::npos) << text("mse_bc.log");
  for (const std::string log : {"lp.log", "kl.log", "output.log"})
    EXPECT_EQ(text(log).find("weight gain correction"), std::string::npos) << text(log);
  // With it (the default) the searched weights are replaced by their gained quantized
  // values: the log says so, and each range is its clip scaled by a gain near 1.
  ASSERT_EQ(run_example("gain", "-A minmax --w_range mse"), 0) << text("gain.log");
  EXPECT_NE(text("gain.log").find("weight gain correction: "), std::string::npos) << text("gain.log");
  const auto wg = json("gain", "weight_clip_val.json");
  for (const auto& [name, ch] : wmm.items())
    for (size_t c = 0; c < ch[1].size(); ++c) {
      const float a = 1.25f * std::max(std::fabs(ch[0][c].get<float>()), std::fabs(ch[1][c].get<float>()));
      EXPECT_LE(wg[name][1][c].get<float>(), a) << name;
      EXPECT_GE(wg[name][0][c].get<float>(), -a) << name;
    }
  EXPECT_TRUE(fs::exists(work_ / "gain" / "quant_model.onnx"));
}

TEST_F(CaliRangeFlagsCli, HelpNamesTheMethodsAndBadValuesFail) {
  ASSERT_EQ(run_command(quote(kDipoorlet.string()) + " --help", work_ / "help.log", 60), 0);
  const std::string help = text("help.log");
  for (const char* s :
       {"--w_range", "lp (Lp-2.4", "kl (TensorRT", "output (consumer", "output (clip search", "--no_weight_gain"})
    EXPECT_NE(help.find(s), std::string::npos) << s << "\n" << help;
  for (const auto& [bad, needle] : std::vector<std::pair<std::string, std::string>>{{"--w_range l2", "--w_range"},
                                                                                    {"-A percentile", "act_quant"}}) {
    EXPECT_NE(run_example("bad", bad), 0) << bad;
    const std::string log = text("bad.log");
    EXPECT_NE(log.find(needle), std::string::npos) << log;
    EXPECT_NE(log.find(bad.substr(bad.find(' ') + 1)), std::string::npos) << log;
    EXPECT_FALSE(fs::exists(work_ / "bad" / "quant_model.onnx")) << bad;
  }
}

}  // namespace
}  // namespace dpl::test
