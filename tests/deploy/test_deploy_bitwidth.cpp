// The deploy files under a precision plan (docs/deploy.md "Bit widths"): SNPE and AIMET/QNN
// encodings carry each tensor's own bit width (per channel where the QDQ model is), worked out
// by hand on the graph of deploy_test_util.h; the formats without a bit-width field get one
// warning naming the sub-8-bit tensors; the TensorRT cache refuses them.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "deploy/deploy_test_util.h"
#include "quant/qdq_builder.h"
#include "util/error.h"

namespace dpl::test {
namespace {

// W4A4 except gemm0 (weight wg and input f0) at 8 bits.
QdqOptions w4a4_but_gemm(const Platform& p) {
  PrecisionOptions o;
  o.w_bits = 4;
  o.a_bits = 4;
  o.config = parse_quant_config("nodes:\n  gemm0: {w_bits: 8, a_bits: 8}\n", "cfg.yaml");
  QdqOptions q;
  q.precision = std::make_shared<const PrecisionPlan>(p, o);
  return q;
}

json enc(int bits, int64_t offset, double scale, bool sym) {
  const int64_t top = sym ? (int64_t{1} << (bits - 1)) - 1 : offset + (int64_t{1} << bits) - 1;
  return {{"bitwidth", bits}, {"dtype", "int"}, {"is_symmetric", sym ? "True" : "False"},
          {"max", static_cast<double>(top) * scale}, {"min", static_cast<double>(offset) * scale},
          {"offset", offset}, {"scale", scale}};
}

// The warnings logged while `f` runs.
template <class F>
std::vector<std::string> warnings_of(F&& f) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  spdlog::default_logger()->sinks().push_back(sink);
  f();
  spdlog::default_logger()->sinks().pop_back();
  std::vector<std::string> w;
  for (const auto& l : sink->last_formatted())
    if (l.find("warning") != std::string::npos) w.push_back(l);
  return w;
}

TEST(DeployBitwidth, SnpeAndAimetCarryEachTensorsBits) {
  DeployFixture f = deploy_fixture();
  const Platform& snpe = platform_by_name("snpe");
  QdqModel q = build_qdq(f.graph, snpe, f.act, f.weight, w4a4_but_gemm(snpe));
  DeployInput in{f.graph, snpe, f.act, f.weight, &q};
  const json s = json::parse(by_name(platform_deploy_files(in))["snpe_encodings.json"]);
  EXPECT_EQ(s["activation_encodings"]["x"][0]["bitwidth"], 4);
  EXPECT_EQ(s["activation_encodings"]["r0"][0]["bitwidth"], 4);
  EXPECT_EQ(s["activation_encodings"]["f0"][0]["bitwidth"], 8) << "gemm0's input";

  const json a = json::parse(by_name(extra_deploy_files(in, "aimet"))["aimet_encodings.json"]);
  // x [-1, 2] at 4 bits: scale 3/15, zero point round(1 / 0.2) = 5, max (-5 + 15) * 0.2 = 2.
  expect_json_near(a["activation_encodings"]["x"], json::array({enc(4, -5, 3.0 / 15, false)}));
  // f0 [0.5, 0.505] at 8 bits (gemm0): scale 0.505/255, offset 0.
  expect_json_near(a["activation_encodings"]["f0"], json::array({enc(8, 0, 0.505 / 255, false)}));
  // w0 per tensor [-1, 0.75] at 4 bits: scale 1.75/15, zero point round(8.571) = 9.
  expect_json_near(a["param_encodings"]["w0"], json::array({enc(4, -9, 1.75 / 15, false)}));
  // wg [-0.4, 0.4] at 8 bits: scale 0.8/255, zero point round(127.5) = 128 (half to even).
  expect_json_near(a["param_encodings"]["wg"], json::array({enc(8, -128, 0.8 / 255, false)}));
  EXPECT_EQ(a["quantizer_args"]["activation_bitwidth"], 4);
  EXPECT_EQ(a["quantizer_args"]["param_bitwidth"], 4);
}

TEST(DeployBitwidth, AimetPerChannelEntriesAtFourBits) {
  DeployFixture f = deploy_fixture();
  const Platform& trt = platform_by_name("trt");
  QdqModel q = build_qdq(f.graph, trt, f.act, f.weight, w4a4_but_gemm(trt));
  DeployInput in{f.graph, trt, f.act, f.weight, &q};
  const json a = json::parse(by_name(extra_deploy_files(in, "aimet"))["aimet_encodings.json"]);
  // w0 per channel, symmetric 4 bits: scale max|.| / 7, offset -8, max 7 * scale.
  expect_json_near(a["param_encodings"]["w0"],
                   json::array({enc(4, -8, 0.75 / 7, true), enc(4, -8, 0.5 / 7, true), enc(4, -8, 1.0 / 7, true)}));
  expect_json_near(a["activation_encodings"]["x"], json::array({enc(4, -8, 2.0 / 7, true)}));
  EXPECT_EQ(a["quantizer_args"]["per_channel_quantization"], "True");
}

TEST(DeployBitwidth, FormatsWithoutABitWidthWarnOnceNamingTheTensors) {
  DeployFixture f = deploy_fixture();
  for (const std::string name : {"trt", "magicmind", "rv", "atlas", "ti", "imx", "stpu"}) {
    const Platform& p = platform_by_name(name);
    QdqModel q = build_qdq(f.graph, p, f.act, f.weight, w4a4_but_gemm(p));
    DeployInput in{f.graph, p, f.act, f.weight, &q};
    const auto w = warnings_of([&] { platform_deploy_files(in); });
    ASSERT_EQ(w.size(), 1u) << name << ": " << ::testing::PrintToString(w);
    EXPECT_NE(w[0].find("cannot state a bit width: the back end will quantize these"), std::string::npos) << w[0];
    EXPECT_NE(w[0].find("w0 (4 bits)"), std::string::npos) << w[0];
    EXPECT_EQ(w[0].find("wg ("), std::string::npos) << "wg is at 8 bits: " << w[0];
    // At 8 bits: nothing to say.
    QdqModel q8 = build_qdq(f.graph, p, f.act, f.weight, {});
    DeployInput in8{f.graph, p, f.act, f.weight, &q8};
    EXPECT_TRUE(warnings_of([&] { platform_deploy_files(in8); }).empty()) << name;
  }
  // snpe: activations carry bitwidth; the weights SNPE computes itself are named.
  const Platform& snpe = platform_by_name("snpe");
  QdqModel q = build_qdq(f.graph, snpe, f.act, f.weight, w4a4_but_gemm(snpe));
  DeployInput in{f.graph, snpe, f.act, f.weight, &q};
  const auto w = warnings_of([&] { platform_deploy_files(in); });
  ASSERT_EQ(w.size(), 1u) << ::testing::PrintToString(w);
  EXPECT_NE(w[0].find("snpe_encodings.json cannot state a bit width for weights"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("w0 (4 bits)"), std::string::npos) << w[0];
  EXPECT_EQ(w[0].find("x (4 bits)"), std::string::npos) << w[0];
  EXPECT_TRUE(warnings_of([&] { extra_deploy_files(in, "aimet"); }).empty());
}

TEST(DeployBitwidth, TrtCacheRefusesSubEightBitTensors) {
  DeployFixture f = deploy_fixture();
  const Platform& trt = platform_by_name("trt");
  PrecisionOptions o;
  o.w_bits = 3;
  QdqOptions opts;
  opts.precision = std::make_shared<const PrecisionPlan>(trt, o);
  QdqModel q = build_qdq(f.graph, trt, f.act, f.weight, opts);
  DeployInput in{f.graph, trt, f.act, f.weight, &q};
  try {
    extra_deploy_files(in, "trt_cache");
    FAIL() << "trt_cache accepted 3-bit weights";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("TensorRT's calibration cache is an 8-bit format and 4 tensor(s) are below 8 bits"),
              std::string::npos)
        << m;
  }
  QdqModel q8 = build_qdq(f.graph, trt, f.act, f.weight, {});
  DeployInput in8{f.graph, trt, f.act, f.weight, &q8};
  EXPECT_NO_THROW(extra_deploy_files(in8, "trt_cache"));
}

}  // namespace
}  // namespace dpl::test
