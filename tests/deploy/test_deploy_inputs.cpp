// Deploy files on awkward input: a missing range (one line naming the tensor, no file
// written), zero ranges, tensor names JSON/YAML must escape, an output file that already
// exists (replaced whole, by rename).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "deploy/deploy_test_util.h"
#include "quant/qdq_builder.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

// The error of building `platform`'s files (or an extra format's) from the fixture `f`, ""
// when there is none. The QDQ model the AIMET writer reads is built from the full fixture.
std::string deploy_error(const DeployFixture& f, const std::string& platform, const std::string& extra = "") {
  const DeployFixture full = deploy_fixture();
  const QdqModel q = build_qdq(full.graph, platform_by_name("trt"), full.act, full.weight, QdqOptions{});
  try {
    DeployInput in{f.graph, platform_by_name(platform), f.act, f.weight, &q};
    if (extra.empty())
      platform_deploy_files(in);
    else
      extra_deploy_files(in, extra);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DeployInputs, MissingActivationRangeIsAnErrorNamingTheTensor) {
  DeployFixture f = deploy_fixture();
  f.act.erase("c1");  // conv1's output: every file lists it, except atlas's (inputs of Conv/Gemm only)
  for (const auto& p : platform_names()) {
    const std::string err = deploy_error(f, p);
    if (p == "atlas") {
      EXPECT_EQ(err, "") << p;
      continue;
    }
    EXPECT_NE(err.find("no range for tensor 'c1'"), std::string::npos) << p << ": " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << p << ": " << err;
  }
  for (const auto& e : deploy_extra_names())
    EXPECT_NE(deploy_error(f, "trt", e).find("'c1'"), std::string::npos) << e;
  f = deploy_fixture();
  f.act.erase("f0");  // gemm0's input
  EXPECT_NE(deploy_error(f, "atlas").find("no range for tensor 'f0' (input of node 'gemm0')"), std::string::npos)
      << deploy_error(f, "atlas");
}

TEST(DeployInputs, MissingWeightRangeIsAnErrorWherePlatformsDeployWeights) {
  DeployFixture f = deploy_fixture();
  f.weight.erase("w1");
  for (const auto& p : {"stpu", "rv", "imx"})
    EXPECT_NE(deploy_error(f, p).find("no range for tensor 'w1'"), std::string::npos) << p << ": " << deploy_error(f, p);
  // trt's file holds activations only.
  EXPECT_EQ(deploy_error(f, "trt"), "");
}

// Found by fuzz_quant (docs/fuzzing.md): a weight range with no channels (a weight with a zero
// dimension, or a broken range table) threw std::out_of_range from the writers.
TEST(DeployInputs, WeightRangeWithNoChannelsIsAnErrorNamingTheWeight) {
  for (const ChannelRanges& bad : {ChannelRanges{}, ChannelRanges{{-1.f, 0.f}, {1.f}}}) {
    DeployFixture f = deploy_fixture();
    f.weight["w1"] = bad;
    for (const auto& p : platform_names()) {
      const std::string err = deploy_error(f, p);  // any exception but dpl::Error fails the test
      if (err.empty()) continue;                   // a platform whose files hold no weight ranges
      EXPECT_NE(err.find("the range of weight 'w1' has " + std::to_string(bad.lo.size()) + " minimums"),
                std::string::npos)
          << p << ": " << err;
      EXPECT_EQ(err.find('\n'), std::string::npos) << p << ": " << err;
    }
    for (const auto& e : deploy_extra_names()) deploy_error(f, "trt", e);
    EXPECT_NE(deploy_error(f, "rv"), "");
  }
}

TEST(DeployInputs, NothingIsWrittenWhenAFileCannotBeBuilt) {
  DeployFixture f = deploy_fixture();
  f.act.erase("y");
  const fs::path dir = fs::path(DPL_BINARY_DIR) / "deploy_tests" / "nothing_written";
  fs::remove_all(dir);
  fs::create_directories(dir);
  DeployInput in{f.graph, platform_by_name("rv"), f.act, f.weight};
  EXPECT_THROW(write_deploy_files(in, {"trt_cache"}, dir.string()), Error);
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(DeployInputs, ZeroRanges) {
  DeployFixture f = deploy_fixture();
  for (auto& [t, r] : f.act) r = {0, 0};
  for (auto& [t, r] : f.weight)
    for (size_t c = 0; c < r.lo.size(); ++c) r.lo[c] = r.hi[c] = 0;
  auto files = [&](const std::string& p) {
    DeployInput in{f.graph, platform_by_name(p), f.act, f.weight};
    return by_name(platform_deploy_files(in));
  };
  EXPECT_EQ(json::parse(files("trt")["trt_clip_val.json"])["blob_range"]["c0"], 0.0);
  // atlas: step 0 becomes 1, offset round(0) - 128.
  expect_json_near(json::parse(files("atlas")["atlas_quant_param.json"])["x"], json{{"scale", 1.0}, {"offset", -128}});
  // rv: step 0 becomes 1/255, zero point 0.
  json rv = json::parse(files("rv")["rv_quantized_param.json"])["quantize_parameters"];
  expect_json_near(rv["@conv0:out0"]["scale"], json::array({1.0 / 255}));
  expect_json_near(rv["@conv0:out0"]["zero_point"], json::array({0}));
  expect_json_near(rv["@conv0:bias"]["scale"], json::array({1.0 / 255 / 255}));
  // imx: scale 0 becomes 1 = 2^0.
  expect_json_near(json::parse(files("imx")["imx_scale.json"])["blob_range"]["w0"], json::array({1.0, 1.0, 1.0}));
  // snpe: max = lo + 0.01.
  expect_json_near(json::parse(files("snpe")["snpe_encodings.json"])["activation_encodings"]["c0"],
                   json::array({{{"bitwidth", 8}, {"min", 0.0}, {"max", 0.01}}}));
  // stpu: exponent of 0 is 0, so emin = 0 - 10; bias alpha 0.
  json stpu = json::parse(files("stpu")["stpu_minmax.json"]);
  EXPECT_EQ(stpu["c0"]["emin"], -10);
  EXPECT_EQ(stpu["conv0_bias"]["alpha"], 0.0);
  // TensorRT cache: a zero amax gives scale 1 (0x3f800000), as the QDQ model's.
  DeployInput in{f.graph, platform_by_name("trt"), f.act, f.weight};
  EXPECT_NE(by_name(extra_deploy_files(in, "trt_cache"))["trt_calib.cache"].find("\nc0: 3f800000\n"),
            std::string::npos);
}

// Tensor and node names with quotes, backslashes, spaces, a line break, non-ASCII letters,
// YAML indicators and words PyYAML would read as booleans, numbers or null.
struct OddNames {
  std::string in = "in\"put\\0", a = "a b: c", b = "123", c = "yes", d = "caf\xc3\xa9/\xe2\x82\xac", e = "line\nbreak",
              f = "relu:0", y = "null";
};

DeployFixture odd_fixture(const OddNames& n) {
  ModelBuilder b(13);
  b.input(n.in, {1, 4})
      .node("Relu", {n.in}, {n.a}, "@relu#1")
      .node("Sigmoid", {n.a}, {n.b}, "- dash")
      .node("Relu", {n.b}, {n.c}, "'quote'")
      .node("Abs", {n.c}, {n.d}, "true")
      .node("Neg", {n.d}, {n.e}, "%pct")
      .node("Abs", {n.e}, {n.f}, "{brace}")
      .node("Relu", {n.f}, {n.y}, "r")
      .output(n.y);
  DeployFixture f{b.graph(), {}, {}};
  f.graph.infer_shapes();
  float k = 1;
  for (const auto& t : {n.in, n.a, n.b, n.c, n.d, n.e, n.f, n.y}) {
    f.act[t] = {-k, 2 * k};
    k += 1;
  }
  return f;
}

TEST(DeployInputs, NamesThatJsonAndYamlMustEscapeReadBackExactly) {
  OddNames n;
  DeployFixture f = odd_fixture(n);
  DeployInput in{f.graph, platform_by_name("rv"), f.act, f.weight};
  auto files = by_name(platform_deploy_files(in));
  json rv_json = json::parse(files["rv_quantized_param.json"]);
  json rk_json = json::parse(files["rk_quantized_param.json"]);
  // rk keys are tensor names; each one reads back exactly.
  // (n.a feeds a Sigmoid only: its producer "@relu#1" is left out.)
  for (const auto& t : {n.in, n.b, n.c, n.d, n.e, n.f, n.y}) EXPECT_TRUE(rk_json["quantize_parameters"].contains(t)) << t;
  EXPECT_FALSE(rk_json["quantize_parameters"].contains(n.a));
  // rv keys are "@<node>:out0".
  for (const auto& node : {"- dash", "'quote'", "true", "%pct", "{brace}"})
    EXPECT_TRUE(rv_json["quantize_parameters"].contains("@" + std::string(node) + ":out0")) << node;
  EXPECT_FALSE(rv_json["quantize_parameters"].contains("@@relu#1:out0"));
  EXPECT_TRUE(rv_json["quantize_parameters"].contains("@" + n.in + ":out0"));
  expect_json_near(parse_yaml(files["rv_quantized_param.yaml"]), rv_json);
  expect_json_near(parse_yaml(files["rk_quantized_param.yaml"]), rk_json);
  // Words a YAML 1.1 reader (PyYAML, as the RKNN toolkits use) would turn into a boolean,
  // an integer or null are quoted.
  const std::string& rk_yaml = files["rk_quantized_param.yaml"];
  for (const auto& quoted : {"\n  '123':\n", "\n  'yes':\n", "\n  'null':\n"})
    EXPECT_NE(rk_yaml.find(quoted), std::string::npos) << quoted << " in\n" << rk_yaml;
  // A ':' inside a name needs no quotes (PyYAML writes it plain too).
  EXPECT_NE(rk_yaml.find("\n  relu:0:\n"), std::string::npos) << rk_yaml;

  // Plain-text formats: a name holding whitespace cannot stand on a line; it is left out (with
  // a warning) of ti_blob_range.txt and the TensorRT cache, and kept in the JSON files.
  DeployInput ti_in{f.graph, platform_by_name("ti"), f.act, f.weight};
  auto ti = by_name(platform_deploy_files(ti_in));
  EXPECT_EQ(ti["ti_blob_range.txt"], n.in + " -1.0 2.0\n123 -3.0 6.0\nyes -4.0 8.0\n" + n.d +
                                         " -5.0 10.0\nrelu:0 -7.0 14.0\nnull -8.0 16.0\n");
  EXPECT_EQ(json::parse(ti["ti_blob_range.json"])["blob_range"].size(), 8u);
  auto cache = by_name(extra_deploy_files(ti_in, "trt_cache"))["trt_calib.cache"];
  EXPECT_EQ(cache.find("line"), std::string::npos);
  EXPECT_NE(cache.find("\na b: c: "), std::string::npos);  // a space is fine in the cache
}

TEST(DeployInputs, InvalidUtf8NameIsAnError) {
  ModelBuilder b(13);
  b.input("x\xff", {1, 4}).node("Relu", {"x\xff"}, {"y"}, "r").output("y");
  DeployFixture g{b.graph(), {{"x\xff", {-1, 1}}, {"y", {0, 1}}}, {}};
  DeployInput in{g.graph, platform_by_name("rv"), g.act, g.weight};
  try {
    platform_deploy_files(in);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
}

TEST(DeployInputs, ExistingFileIsReplacedByRename) {
  DeployFixture f = deploy_fixture();
  const fs::path dir = fs::path(DPL_BINARY_DIR) / "deploy_tests" / "replace";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path file = dir / "trt_clip_val.json";
  {
    std::ofstream(file) << "old content, longer than nothing";
  }
  // A second name for the old file: a rewrite in place would change what it shows, a rename
  // over the name leaves it alone.
  fs::create_hard_link(file, dir / "old_link");
  DeployInput in{f.graph, platform_by_name("trt"), f.act, f.weight};
  auto written = write_deploy_files(in, {}, dir.string());
  ASSERT_EQ(written, std::vector<std::string>{file.string()});
  EXPECT_EQ(json::parse(slurp(file))["blob_range"]["y"], 257.0);
  EXPECT_EQ(slurp(dir / "old_link"), "old content, longer than nothing");
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

}  // namespace
}  // namespace dpl::test
