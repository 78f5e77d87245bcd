// Every deploy file of every platform for a real model (YOLOX-Nano from ../shared/models,
// calibrated with minmax on 2 photographs), read back: each JSON file parses, each YAML file
// parses (yaml-cpp) to the same content as its JSON twin, the text formats parse line by
// line, and each file agrees with the ranges it was written from where a rule is a one-liner.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include "calib/sample_source.h"
#include "calib/tensor_cali.h"
#include "deploy/deploy_test_util.h"
#include "optimizer/prepare.h"
#include "parity/parity_util.h"
#include "quant/qdq_builder.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

// Every number in `j` is finite.
void expect_finite(const json& j, const std::string& where) {
  if (j.is_number_float()) {
    EXPECT_TRUE(std::isfinite(j.get<double>())) << where;
  } else if (j.is_structured()) {
    for (const auto& v : j) expect_finite(v, where);
  }
}

void expect_near(double a, double e, const std::string& where) {
  EXPECT_LE(std::fabs(a - e), 1e-6 * std::fabs(e) + 1e-30) << where << ": " << a << " vs " << e;
}

const fs::path kOut = fs::path(DPL_BINARY_DIR) / "deploy_tests" / "yolox";

// One test, so that the model is calibrated once.
class DeployRealModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path model = kModels / "yolox-nano" / "yolox_nano.onnx";
    if (!fs::exists(model) || !fs::exists(kImages)) return;
    graph_ = std::make_unique<OnnxGraph>(OnnxGraph::load(model.string()));
    prepare_model(*graph_, SimplifyOptions{});
    const fs::path data = kOut / "calib";
    fs::remove_all(data);
    fs::create_directories(data / "images");
    PreprocessOptions o = pre(416, 416, {0}, {1}, true);
    o.resize = ResizeMode::Letterbox;
    o.align = LetterboxAlign::TopLeft;
    o.pad_value = 114;
    images(o)(data, "images", 2);
    FolderSampleSource src(data.string(), FolderSampleSource::graph_inputs(*graph_), 2);
    CaliOptions co;
    co.algo = CaliAlgo::MinMax;
    co.threads = 2;
    act_ = calibrate_activations(*graph_, src, co);
    weight_ = weight_ranges(*graph_);
  }
  static void TearDownTestSuite() { graph_.reset(); }

  void SetUp() override {
    if (!graph_) GTEST_SKIP() << "YOLOX-Nano or the sample images are not in " << kShared << ": skipped";
  }

  // Writes platform `p`'s files and both extras into a fresh folder; returns it.
  fs::path write(const std::string& p) {
    const fs::path dir = kOut / p;
    fs::remove_all(dir);
    fs::create_directories(dir);
    const Platform& platform = platform_by_name(p);
    QdqModel q = build_qdq(*graph_, platform, act_, weight_, QdqOptions{});
    DeployInput in{*graph_, platform, act_, weight_, &q};
    in.stpu_wg = true;
    write_deploy_files(in, deploy_extra_names(), dir.string());
    return dir;
  }

  static std::unique_ptr<OnnxGraph> graph_;
  static ActRanges act_;
  static WeightRanges weight_;
};

std::unique_ptr<OnnxGraph> DeployRealModel::graph_;
ActRanges DeployRealModel::act_;
WeightRanges DeployRealModel::weight_;

TEST_F(DeployRealModel, EveryFileOfEveryPlatformReadsBackAndAgreesWithTheRanges) {
  for (const auto& p : platform_names()) {
    SCOPED_TRACE(p);
    const fs::path dir = write(p);
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string(), ext = e.path().extension().string();
      const std::string text = slurp(e.path());
      ++files;
      if (ext == ".json") {
        json j;
        ASSERT_NO_THROW(j = json::parse(text)) << name;
        expect_finite(j, name);
      } else if (ext == ".yaml") {
        fs::path twin = e.path();
        twin.replace_extension(".json");
        expect_json_near(parse_yaml(text), json::parse(slurp(twin)), name);
      } else if (name == "ti_blob_range.txt") {
        std::istringstream in(text);
        size_t lines = 0;
        for (std::string t, lo, hi; in >> t >> lo >> hi; ++lines) {
          ASSERT_TRUE(act_.count(t)) << name << ": " << t;
          expect_near(std::stod(lo), act_[t].lo, name + " " + t);
          expect_near(std::stod(hi), act_[t].hi, name + " " + t);
        }
        EXPECT_EQ(lines, act_.size()) << name;
      } else if (name == "trt_calib.cache") {
        std::istringstream in(text);
        std::string line;
        std::getline(in, line);
        EXPECT_EQ(line, "TRT-8601-EntropyCalibration2");
        const std::regex entry("(.+): ([0-9a-f]{8})");
        std::set<std::string> names;
        for (std::smatch m; std::getline(in, line);) {
          ASSERT_TRUE(std::regex_match(line, m, entry)) << line;
          names.insert(m[1]);
          const uint32_t bits = static_cast<uint32_t>(std::stoul(m[2], nullptr, 16));
          float scale;
          std::memcpy(&scale, &bits, 4);
          const Range& r = act_.at(m[1]);
          const float amax = std::max(-r.lo, r.hi);
          if (amax > 0) {
            expect_near(scale, amax / 127.0f, line);
          }
        }
        EXPECT_EQ(names.size(), act_.size());
      } else if (name.rfind("log-", 0) != 0) {
        ADD_FAILURE() << "unexpected file " << name;
      }
    }
    EXPECT_GT(files, 2);
  }

  // Each file agrees with the ranges where a rule is a one-liner.
  // trt: every activation, max(-lo, hi).
  json trt = json::parse(slurp(kOut / "trt" / "trt_clip_val.json"))["blob_range"];
  EXPECT_EQ(trt.size(), act_.size());
  for (const auto& [t, r] : act_) expect_near(trt.at(t).get<double>(), std::max(-r.lo, r.hi), "trt " + t);

  // imx: powers of two, one per channel for weights.
  json imx = json::parse(slurp(kOut / "imx" / "imx_scale.json"))["blob_range"];
  for (const auto& [t, v] : imx.items()) {
    for (const auto& s : v) {
      int e = 0;
      EXPECT_EQ(std::frexp(s.get<double>(), &e), 0.5) << t;
    }
    if (weight_.count(t)) {
      EXPECT_EQ(v.size(), weight_.at(t).lo.size()) << t;
    }
  }

  // stpu: every Conv has its weight entry and an emin on its output.
  json stpu = json::parse(slurp(kOut / "stpu" / "stpu_minmax.json"));
  int convs = 0;
  for (const auto& n : graph_->graph().node()) {
    if (n.op_type() != "Conv") continue;
    ++convs;
    EXPECT_TRUE(stpu.contains(n.name() + "_weights")) << n.name();
    EXPECT_TRUE(stpu[n.output(0)].contains("emin")) << n.name();
  }
  EXPECT_GT(convs, 50);

  // AIMET: offset = round(min / scale) in every entry.
  json aimet = json::parse(slurp(kOut / "snpe" / "aimet_encodings.json"));
  EXPECT_EQ(aimet["activation_encodings"].size(), act_.size());
  for (const char* part : {"activation_encodings", "param_encodings"})
    for (const auto& [t, list] : aimet[part].items())
      for (const auto& e : list)
        EXPECT_EQ(e["offset"].get<int64_t>(), std::llround(e["min"].get<double>() / e["scale"].get<double>())) << t;
}

}  // namespace
}  // namespace dpl::test
