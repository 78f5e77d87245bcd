// Profiling through the `dipoorlet` command on the bundled example (make-example, no shared
// data needed): the console summary in the original's layout, layer_res.json / model_res.json
// / profile.json agreeing with each other, --skip_prof_layer, --sensitivity, and report.html
// opened in a real headless Chromium (/usr/bin/chromium): it loads with no console message,
// fetches nothing, and its screenshot is not blank (the screenshot is kept; its path is
// printed as "[ artifact ] ...").
#include <gtest/gtest.h>
#include <stb/stb_image.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_fixture.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

const fs::path kChromium = "/usr/bin/chromium";
constexpr int kSamples = 4;

std::string whole_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

// The screenshot of ReportOpensInHeadlessChromium is kept in suite_dir_, beside the work
// folders (which are removed when their test passes).
class ProfileCli : public CliTest {
 protected:
  ProfileCli() : CliTest("profile_report_tests", kSamples) {}

  // dipoorlet on the example, -D trt -A minmax, output in <work>/out; returns the exit code.
  int run(const std::vector<std::string>& extra) {
    std::string cmd = dipoorlet_on_example(kSamples) + " -D trt -A minmax --threads 1 -O " + quote(out().string());
    for (const auto& a : extra) cmd += " " + quote(a);
    int rc = run_command(cmd, work_ / "console.txt", 300);
    console_ = whole_file(work_ / "console.txt");
    return rc;
  }
  fs::path out() const { return work_ / "out"; }

  std::string console_;
};

TEST_F(ProfileCli, ConsoleSummaryAndResultFilesAgree) {
  ASSERT_EQ(run({}), 0) << console_;
  // logits has 10 values per sample: one cosine over all samples stacked ("tolcos").
  for (const std::string& needle :
       {std::string("Layer  cos: "), std::string("The smallest cos value of 10 layers: "),
        std::string("Quant model output cos: "), fmt::format("{:40} tolcos : ", "logits"), std::string("Model ranges:"),
        fmt::format("{:<30} Shape: {:<20} Range: [", "input", "[1, 3, 32, 32]"), std::string("Total time cost: ")})
    EXPECT_TRUE(contains(console_, needle)) << "console lacks '" << needle << "':\n" << console_;
  // trt quantizes weights per channel: no per-tensor weight report.
  EXPECT_FALSE(contains(console_, "Layer degradate by per layer"));

  auto layer = nlohmann::json::parse(whole_file(out() / "layer_res.json"));
  auto model = nlohmann::json::parse(whole_file(out() / "model_res.json"));
  auto prof = nlohmann::json::parse(whole_file(out() / "profile.json"));
  ASSERT_TRUE(model.contains("logits"));
  ASSERT_EQ(prof["outputs"].size(), 1u);
  EXPECT_EQ(prof["outputs"][0]["avg_cos"].get<double>(), model["logits"][0].get<double>());
  EXPECT_EQ(prof["outputs"][0]["min_cos"].get<double>(), model["logits"][1].get<double>());
  EXPECT_GE(model["logits"][1].get<double>(), 0.9);  // an 8-bit CNN on its own calibration data
  EXPECT_LE(model["logits"][1].get<double>(), model["logits"][0].get<double>());
  ASSERT_EQ(prof["layers"].size(), layer.size());
  for (const auto& l : prof["layers"]) {
    const std::string t = l["tensor"].get<std::string>();
    ASSERT_TRUE(layer.contains(t)) << t;
    EXPECT_EQ(layer[t].get<double>(), l["cos"].get<double>());
    EXPECT_EQ(l["samples"].get<int>(), kSamples);
  }
  EXPECT_EQ(prof["settings"]["platform"], "trt");
  EXPECT_EQ(prof["settings"]["samples"], kSamples);
  EXPECT_TRUE(prof["sensitivity"].is_null());
  EXPECT_EQ(prof["histograms"].size(), 5u);
  // The ranges listed are those of act_clip_val.json and weight_clip_val.json.
  auto act = nlohmann::json::parse(whole_file(out() / "act_clip_val.json"));
  auto weight = nlohmann::json::parse(whole_file(out() / "weight_clip_val.json"));
  EXPECT_EQ(prof["ranges"].size(), act.size() + weight.size());
  for (const auto& r : prof["ranges"]) {
    if (!r["weight"].get<bool>()) {
      EXPECT_EQ(r["min"].get<float>(), act[r["name"].get<std::string>()][0].get<float>()) << r["name"];
    }
  }
}

TEST_F(ProfileCli, SkipProfLayerComparesOutputsOnly) {
  ASSERT_EQ(run({"--skip_prof_layer"}), 0) << console_;
  EXPECT_FALSE(contains(console_, "Layer  cos: "));
  EXPECT_FALSE(contains(console_, "The smallest cos value"));
  EXPECT_TRUE(contains(console_, "Quant model output cos: "));
  EXPECT_FALSE(fs::exists(out() / "layer_res.json"));
  EXPECT_TRUE(fs::exists(out() / "model_res.json"));
  auto prof = nlohmann::json::parse(whole_file(out() / "profile.json"));
  EXPECT_TRUE(prof["layers"].empty());
  EXPECT_FALSE(prof["settings"]["per_layer"].get<bool>());
}

TEST_F(ProfileCli, TargetCosOutsideZeroOneIsRejected) {
  EXPECT_EQ(run({"--target_cos", "1.5"}), 105) << console_;
  EXPECT_EQ(run({"--sensitivity_samples", "0"}), 105) << console_;
}

// "Only this node quantized" measured by the sensitivity pass (one node cut out of the QDQ
// model, the rest of the FP32 model run on cached activations) must equal an ordinary run with
// every other quantized node in --skip_layers (same calibration: same samples, and
// --skip_layers does not change it).
TEST_F(ProfileCli, SensitivityEqualsARunWithEveryOtherNodeSkipped) {
  ASSERT_EQ(run({"--sensitivity", "--sensitivity_samples", std::to_string(kSamples)}), 0) << console_;
  auto prof = nlohmann::json::parse(whole_file(out() / "profile.json"));
  std::vector<std::string> nodes;
  std::string worst;
  double worst_cos = 2;
  for (const auto& n : prof["sensitivity"]["nodes"]) {
    nodes.push_back(n["node"].get<std::string>());
    if (n["cos"].get<double>() < worst_cos) worst_cos = n["cos"].get<double>(), worst = nodes.back();
  }
  ASSERT_GE(nodes.size(), 5u);
  ASSERT_LT(worst_cos, 1.0);
  std::vector<std::string> args{"--skip_prof_layer", "--skip_layers"};
  for (const auto& n : nodes)
    if (n != worst) args.push_back(n);
  fs::remove_all(out());
  ASSERT_EQ(run(args), 0) << console_;
  auto model = nlohmann::json::parse(whole_file(out() / "model_res.json"));
  std::cout << "[profile-cli] only '" << worst << "' quantized: sensitivity " << worst_cos << ", full run "
            << model["logits"][0].get<double>() << std::endl;
  EXPECT_NEAR(model["logits"][0].get<double>(), worst_cos, 1e-9);
}

// Loads `html` in headless Chromium; returns the console/error lines it logged and writes the
// screenshot.
std::vector<std::string> chromium_problems(const fs::path& html, const fs::path& png, const fs::path& work) {
  const std::string cmd = quote(kChromium.string()) +
                          " --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run"
                          " --enable-logging=stderr --v=0 --window-size=1280,2400 --user-data-dir=" +
                          quote((work / "chromium-profile").string()) + " --screenshot=" + quote(png.string()) +
                          " " + quote("file://" + fs::absolute(html).string());
  const fs::path log = work / "chromium.log";
  int rc = run_command(cmd, log, 120);
  std::vector<std::string> problems;
  if (rc != 0) problems.push_back("chromium exited with " + std::to_string(rc));
  std::istringstream in(whole_file(log));
  for (std::string l; std::getline(in, l);)
    if (contains(l, ":CONSOLE") || contains(l, "net::ERR_")) problems.push_back(l);
  return problems;
}

TEST_F(ProfileCli, ReportOpensInHeadlessChromium) {
  if (!fs::exists(kChromium)) GTEST_SKIP() << kChromium << " is not installed (scripts/install_deps.sh installs it)";
  ASSERT_EQ(run({"--sensitivity", "--sensitivity_samples", "2", "--target_cos", "0.9999"}), 0) << console_;
  EXPECT_TRUE(contains(console_, "Single-layer sensitivity (network output cos with only this node quantized, 2 "
                                 "samples), lowest 10: "));
  auto prof = nlohmann::json::parse(whole_file(out() / "profile.json"));
  ASSERT_FALSE(prof["sensitivity"].is_null());
  EXPECT_EQ(prof["sensitivity"]["samples"], 2);
  EXPECT_FALSE(prof["sensitivity"]["nodes"].empty());

  const fs::path html = out() / "report.html";
  const std::string page = whole_file(html);
  // Self-contained: no script, nothing to fetch (the SVG namespace URI is not a fetch).
  EXPECT_FALSE(contains(page, "<script"));
  EXPECT_FALSE(contains(page, "src="));
  EXPECT_FALSE(contains(page, "href="));
  EXPECT_FALSE(contains(page, "url("));
  for (const char* section : {"Per layer: cosine", "Single-layer sensitivity", "Value histograms", "Tensor ranges"})
    EXPECT_TRUE(contains(page, section)) << section;

  // The check itself must see a broken page as broken.
  const fs::path bad = work_ / "broken.html";
  std::ofstream(bad) << "<!DOCTYPE html><html><body><p>x</p><script>notDefined();</script></body></html>";
  EXPECT_FALSE(chromium_problems(bad, work_ / "broken.png", work_).empty()) << "the console check saw nothing";

  const fs::path png = suite_dir_ / "report.png";
  fs::remove(png);
  auto problems = chromium_problems(html, png, work_);
  EXPECT_TRUE(problems.empty()) << "Chromium reported:\n" << fmt::format("{}", fmt::join(problems, "\n"));
  ASSERT_TRUE(fs::exists(png)) << "no screenshot; log:\n" << read_text(work_ / "chromium.log");
  std::cout << "[ artifact ] report.html screenshot: " << fs::absolute(png).string() << std::endl;
  RecordProperty("screenshot", fs::absolute(png).string());

  int w = 0, h = 0, ch = 0;
  unsigned char* px = stbi_load(png.string().c_str(), &w, &h, &ch, 3);
  ASSERT_NE(px, nullptr) << "cannot decode " << png;
  int64_t ink = 0, green = 0, blue = 0;
  for (int64_t i = 0; i < int64_t(w) * h; ++i) {
    const int r = px[3 * i], g = px[3 * i + 1], b = px[3 * i + 2];
    ink += (r < 200 || g < 200 || b < 200);
    green += std::abs(r - 0x2e) < 24 && std::abs(g - 0x8b) < 24 && std::abs(b - 0x57) < 24;  // bars >= 0.99
    blue += std::abs(r - 0x1f) < 24 && std::abs(g - 0x77) < 24 && std::abs(b - 0xb4) < 24;   // FP32 histogram
  }
  stbi_image_free(px);
  EXPECT_EQ(w, 1280);
  EXPECT_GT(ink, int64_t(w) * h / 50) << "the screenshot is (nearly) blank";
  EXPECT_GT(green, 500) << "no cosine bars drawn";
  EXPECT_GT(blue, 200) << "no histogram drawn";
}

}  // namespace
}  // namespace dpl::test
