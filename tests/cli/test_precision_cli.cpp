// The precision flags on the bundled example (docs/quant-config.md): a bad --quant_config, a
// sub-8-bit plan with an 8-bit-only output (trt_cache, QOP), NaN weights: exit 1, one line
// naming the problem, nothing written (not even the log: all of it is checked before the
// output folder is touched). And one good W4A4 run: the plan in the log, the warnings for
// entries that match nothing, Clips in quant_model.onnx, the fixed range in the range file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_fixture.h"
#include "graph/onnx_graph.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

class PrecisionCli : public CliTest {
 protected:
  PrecisionCli() : CliTest("precision_cli", 4, "-A minmax --threads 1", 120) {}

  fs::path config(const std::string& text, const std::string& name = "cfg.yaml") {
    const fs::path p = work_ / name;
    std::ofstream(p) << text;
    return p;
  }

  // The run failed with exit code `rc`, its console's only "error:" line holds every needle,
  // and the output folder was never made.
  void expect_refused(const std::string& out, int rc, int want_rc, const std::vector<std::string>& needles) {
    const std::string console = read_whole_text(work_ / (out + ".log"));
    EXPECT_EQ(rc, want_rc) << console;
    std::vector<std::string> errors;
    std::istringstream in(console);
    for (std::string l; std::getline(in, l);)
      if (l.find("error") != std::string::npos) errors.push_back(l);
    ASSERT_EQ(errors.size(), 1u) << console;
    for (const auto& n : needles) EXPECT_NE(errors[0].find(n), std::string::npos) << n << " not in: " << errors[0];
    EXPECT_FALSE(fs::exists(work_ / out)) << "a refused run wrote into " << work_ / out;
  }
};

TEST_F(PrecisionCli, BadConfigFilesAreOneLineAndWriteNothing) {
  struct Case {
    std::string text, needle;
  } cases[] = {
      {"nodes:\n  stem: [w_bits: 4\n", "cfg.yaml:3:1: does not parse"},
      {"nodes:\n  stem: {bits: 4}\n", "cfg.yaml:2:10: nodes 'stem': unknown key 'bits'"},
      {"op_types:\n  Conv: {w_bits: 9}\n", "cfg.yaml:2:18: w_bits must be an integer from 2 to 8"},
      {"tensors:\n  input: {range: [1, 0]}\n", "cfg.yaml:2:18: range [1, 0] has lo > hi"},
      {"op_types:\n  Convolution: {a_bits: 4}\n", "cfg.yaml:2:3: unknown op type 'Convolution'"},
  };
  int i = 0;
  for (const auto& c : cases) {
    const std::string out = "bad" + std::to_string(i++);
    const fs::path cfg = config(c.text);
    const int rc = run_example(out, "-D trt --quant_config " + quote(cfg.string()));
    SCOPED_TRACE(c.text);
    expect_refused(out, rc, 1, {"--quant_config " + cfg.parent_path().string(), c.needle});
  }
}

TEST_F(PrecisionCli, BitsOutsideTwoToEightOnTheCommandLine) {
  // The parser's own check: its exit code for a value out of range, the flag named.
  const int rc = run_example("out", "-D trt --w_bits 9");
  const std::string console = read_whole_text(work_ / "out.log");
  EXPECT_EQ(rc, 105) << console;
  EXPECT_NE(console.find("--w_bits"), std::string::npos) << console;
  EXPECT_FALSE(fs::exists(work_ / "out"));
}

TEST_F(PrecisionCli, SubEightBitPlanRefusesTrtCacheAndQop) {
  int rc = run_example("cache", "-D trt --w_bits 3 --deploy_extra trt_cache");
  expect_refused("cache", rc, 1, {"--deploy_extra trt_cache", "8-bit format", "(3 bits)"});
  rc = run_example("qop", "-D trt --a_bits 4 --quant_format QOP");
  expect_refused("qop", rc, 1, {"--quant_format QOP", "below 8 bits", "(4 bits)"});
  // At 8 bits, or with the first/last layers alone narrowed back, the same outputs are fine.
  ASSERT_EQ(run_example("ok", "-D trt --w_bits 8 --deploy_extra trt_cache"), 0) << read_whole_text(work_ / "ok.log");
}

TEST_F(PrecisionCli, NanWeightNamesTheInitializer) {
  OnnxGraph g = OnnxGraph::load(example_model().string());
  std::string name;
  for (const auto& n : g.graph().node())
    if (n.op_type() == "Conv" && name.empty()) name = n.input(1);
  ASSERT_FALSE(name.empty());
  Tensor w = g.get_initializer(name).clone();
  w.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  g.set_initializer(name, w);
  const fs::path bad = work_ / "nan_weight.onnx";
  g.save(bad.string());
  const int rc = run_command(quote(kDipoorlet.string()) + " -M " + quote(bad.string()) + " -I " +
                                 quote(example_calib().string()) + " -N 4 -A minmax -D trt -O " +
                                 quote((work_ / "out").string()),
                             work_ / "out.log");
  expect_refused("out", rc, 1, {"initializer '" + name + "'", "NaN"});
}

TEST_F(PrecisionCli, W4A4RunLogsThePlanAndKeepsCodesOnTheGrid) {
  const fs::path cfg = config(
      "op_types:\n  Gemm: {w_bits: 8, a_bits: 8}\n  MatMul: {w_bits: 4}\n"
      "patterns:\n  \"block2*\": {a_bits: 6}\n"
      "nodes:\n  no_such_node: {skip: true}\n"
      "tensors:\n  input: {range: [-2, 2]}\n",
      "cfg.yaml");
  const int rc = run_example("out", "-D snpe --w_bits 4 --a_bits 4 --first_last_8bit --quant_config " +
                                        quote(cfg.string()));
  const std::string console = read_whole_text(work_ / "out.log");
  ASSERT_EQ(rc, 0) << console;
  EXPECT_NE(console.find("precision plan: weights: 8 bits x 2, 4 bits x "), std::string::npos) << console;
  EXPECT_NE(console.find("6 bits x"), std::string::npos) << "block2's inputs: " << console;
  EXPECT_NE(console.find("cfg.yaml:3: op_types 'MatMul' matches no node"), std::string::npos) << console;
  EXPECT_NE(console.find("cfg.yaml:7: nodes 'no_such_node' is not a node"), std::string::npos) << console;
  EXPECT_NE(console.find("snpe_encodings.json cannot state a bit width for weights"), std::string::npos) << console;

  const fs::path out = work_ / "out";
  OnnxGraph q = OnnxGraph::load((out / "quant_model.onnx").string());
  int clips = 0;
  for (const auto& n : q.graph().node()) clips += n.op_type() == "Clip";
  EXPECT_GT(clips, 0) << "4-bit activations are saturated to their grid by a Clip";
  EXPECT_FALSE(q.has_node("input_Clip")) << "the first layer's input stays at 8 bits";
  const auto act = nlohmann::json::parse(read_whole_text(out / "act_clip_val.json"));
  EXPECT_EQ(act["input"], nlohmann::json::array({-2.0, 2.0}));
  const auto snpe = nlohmann::json::parse(read_whole_text(out / "snpe_encodings.json"));
  EXPECT_EQ(snpe["activation_encodings"]["input"][0]["bitwidth"], 8);
  EXPECT_EQ(snpe["activation_encodings"]["features"][0]["bitwidth"], 8) << "fc's input: Gemm at 8 and last layer";
  int four = 0;
  for (const auto& [t, e] : snpe["activation_encodings"].items()) four += e[0]["bitwidth"] == 4;
  EXPECT_GT(four, 0);
}

}  // namespace
}  // namespace dpl::test
