// Each back end's deploy files for the small graph of deploy_test_util.h, whose ranges are set
// by hand. The expected files are written out here from the rules of docs/spec.md 11 and the
// original's deploy/*.py (each number's derivation in a comment), then compared key by key
// and number by number (1e-6 relative).
#include <gtest/gtest.h>

#include <set>

#include "deploy/deploy_test_util.h"
#include "quant/qdq_builder.h"

namespace dpl::test {
namespace {

std::map<std::string, std::string> files_for(const std::string& platform, bool stpu_wg = false) {
  DeployFixture f = deploy_fixture();
  DeployInput in{f.graph, platform_by_name(platform), f.act, f.weight};
  in.stpu_wg = stpu_wg;
  return by_name(platform_deploy_files(in));
}

json parse(const std::map<std::string, std::string>& files, const std::string& name) {
  auto it = files.find(name);
  if (it == files.end()) {
    ADD_FAILURE() << name << " was not written";
    return json();
  }
  return json::parse(it->second);
}

TEST(DeployBackends, TrtWritesMaxAbsOfEveryActivation) {
  auto files = files_for("trt");
  ASSERT_EQ(files.size(), 1u);
  // max(-lo, hi); c1 = [-2, -0.5] gives 2, s0/f0 = [0.5, 0.505] give 0.505.
  json expected = {{"blob_range",
                    {{"x", 2.0}, {"c0", 5.0}, {"r0", 4.5}, {"c1", 2.0}, {"a0", 6.0}, {"k0", 7.0}, {"t0", 8.0},
                     {"s0", 0.505}, {"f0", 0.505}, {"y", 257.0}}}};
  expect_json_near(parse(files, "trt_clip_val.json"), expected);
}

TEST(DeployBackends, MagicmindWritesRawRanges) {
  auto files = files_for("magicmind");
  ASSERT_EQ(files.size(), 1u);
  auto mm = [](double lo, double hi) { return json{{"min", lo}, {"max", hi}}; };
  json expected = {{"blob_range",
                    {{"x", mm(-1, 2)}, {"c0", mm(-3, 5)}, {"r0", mm(0, 4.5)}, {"c1", mm(-2, -0.5)},
                     {"a0", mm(-1.5, 6)}, {"k0", mm(-1, 7)}, {"t0", mm(-8, 4)}, {"s0", mm(0.5, 0.505)},
                     {"f0", mm(0.5, 0.505)}, {"y", mm(-253, 257)}}}};
  expect_json_near(parse(files, "magicmind_quant_param.json"), expected);
}

TEST(DeployBackends, TiWritesTextAndJsonRanges) {
  auto files = files_for("ti");
  ASSERT_EQ(files.size(), 2u);
  // Numbers as Python prints a float64: 0.505f is 0.5049999952316284.
  EXPECT_EQ(files["ti_blob_range.txt"],
            "x -1.0 2.0\nc0 -3.0 5.0\nr0 0.0 4.5\nc1 -2.0 -0.5\na0 -1.5 6.0\nk0 -1.0 7.0\nt0 -8.0 4.0\n"
            "s0 0.5 0.5049999952316284\nf0 0.5 0.5049999952316284\ny -253.0 257.0\n");
  auto r = [](double lo, double hi) { return json::array({lo, hi}); };
  json expected = {{"blob_range",
                    {{"x", r(-1, 2)}, {"c0", r(-3, 5)}, {"r0", r(0, 4.5)}, {"c1", r(-2, -0.5)}, {"a0", r(-1.5, 6)},
                     {"k0", r(-1, 7)}, {"t0", r(-8, 4)}, {"s0", r(0.5, 0.505)}, {"f0", r(0.5, 0.505)},
                     {"y", r(-253, 257)}}}};
  expect_json_near(parse(files, "ti_blob_range.json"), expected);
}

TEST(DeployBackends, AtlasWritesStepAndOffsetOfQuantizedInputs) {
  auto files = files_for("atlas");
  ASSERT_EQ(files.size(), 1u);
  // Inputs of Conv/Gemm/AveragePool only: x (conv0, conv1) and f0 (gemm0).
  // x = [-1, 2]: step 3/255, offset round(1 / (3/255)) - 128 = 85 - 128 = -43.
  // f0 = [0.5, 0.505] widened to [0, 0.505]: step 0.505/255, offset 0 - 128.
  json expected = {{"x", {{"scale", 3.0 / 255}, {"offset", -43}}}, {"f0", {{"scale", 0.505 / 255}, {"offset", -128}}}};
  expect_json_near(parse(files, "atlas_quant_param.json"), expected);
}

TEST(DeployBackends, SnpeWritesActivationEncodingsWithMinimumSpan) {
  auto files = files_for("snpe");
  ASSERT_EQ(files.size(), 1u);
  // max = max(max(0, hi), lo + 0.01): c1 = [-2, -0.5] -> 0; s0 = [0.5, 0.505] -> 0.51.
  auto e = [](double lo, double hi) { return json::array({{{"bitwidth", 8}, {"min", lo}, {"max", hi}}}); };
  json expected = {{"activation_encodings",
                    {{"x", e(-1, 2)}, {"c0", e(-3, 5)}, {"r0", e(0, 4.5)}, {"c1", e(-2, 0)}, {"a0", e(-1.5, 6)},
                     {"k0", e(-1, 7)}, {"t0", e(-8, 4)}, {"s0", e(0.5, 0.51)}, {"f0", e(0.5, 0.51)},
                     {"y", e(-253, 257)}}},
                   {"param_encodings", json::object()}};
  expect_json_near(parse(files, "snpe_encodings.json"), expected);
}

TEST(DeployBackends, SnpeAtlasAndRvFollowThePlatformBits) {
  DeployFixture f = deploy_fixture();
  auto files_at = [&](const std::string& name, int bits) {
    Platform p = platform_by_name(name);
    p.act.bits = p.weight.bits = bits;
    return by_name(platform_deploy_files(DeployInput{f.graph, p, f.act, f.weight}));
  };
  auto snpe = files_at("snpe", 4);
  EXPECT_EQ(parse(snpe, "snpe_encodings.json")["activation_encodings"]["x"][0]["bitwidth"], 4);
  // 4 bits: 15 steps, offset - 8. x = [-1, 2]: step 3/15, round(1 / 0.2) - 8 = -3.
  json atlas = {{"x", {{"scale", 3.0 / 15}, {"offset", -3}}}, {"f0", {{"scale", 0.505 / 15}, {"offset", -8}}}};
  expect_json_near(parse(files_at("atlas", 4), "atlas_quant_param.json"), atlas);
  // rv: x = [-1, 2] -> step 3/15, zero point 5; conv0's bias step = w0's step * x's step,
  // w0 = [-1, 0.75] per tensor -> 1.75/15.
  json rv = parse(files_at("rv", 4), "rv_quantized_param.json")["quantize_parameters"];
  expect_json_near(rv["@x:out0"]["scale"], json::array({3.0 / 15}));
  expect_json_near(rv["@x:out0"]["zero_point"], json::array({5}));
  expect_json_near(rv["@conv0:bias"]["scale"], json::array({1.75 / 15 * (3.0 / 15)}));
  // 8 bits: the files of the platform as it is.
  for (const std::string name : {"snpe", "atlas", "rv"}) {
    EXPECT_EQ(files_at(name, 8), files_for(name)) << name;
  }
}

TEST(DeployBackends, ImxWritesPowerOfTwoScalesWithoutBiases) {
  auto files = files_for("imx");
  ASSERT_EQ(files.size(), 1u);
  // 2^round(log2(max|.| / 127)): x 2/127 (log2 -5.99) -> 2^-6; c0 5/127 (-4.67) -> 2^-5;
  // r0 4.5/127 (-4.82) -> 2^-5; c1 2/127 -> 2^-6; a0 6/127 (-4.40) -> 2^-4; k0 7/127 (-4.18)
  // -> 2^-4; t0 8/127 (-3.99) -> 2^-4; s0, f0 0.505/127 (-7.97) -> 2^-8; y 257/127 (1.02) -> 2.
  // Weights per channel: w0 max|.| 0.75, 0.5, 1 (log2 -7.40, -7.99, -6.99) -> 2^-7, 2^-8, 2^-7;
  // w1 0.3, 0.6, 0.9 (-8.73, -7.73, -7.14) -> 2^-9, 2^-8, 2^-7; wt 2, 1.5 (-5.99, -6.40) -> 2^-6
  // twice; wg 0.4, 0.3, 0.3, 0.4 (-8.31, -8.73) -> 2^-8, 2^-9, 2^-9, 2^-8. Biases are left out.
  json expected = {{"blob_range",
                    {{"x", {0.015625}},
                     {"c0", {0.03125}},
                     {"r0", {0.03125}},
                     {"c1", {0.015625}},
                     {"a0", {0.0625}},
                     {"k0", {0.0625}},
                     {"t0", {0.0625}},
                     {"s0", {0.00390625}},
                     {"f0", {0.00390625}},
                     {"y", {2.0}},
                     {"w0", {0.0078125, 0.00390625, 0.0078125}},
                     {"w1", {0.001953125, 0.00390625, 0.0078125}},
                     {"wt", {0.015625, 0.015625}},
                     {"wg", {0.00390625, 0.001953125, 0.001953125, 0.00390625}}}}};
  expect_json_near(parse(files, "imx_scale.json"), expected);
}

// stpu entries: symmetric {"min": -a, "max": a}.
json sym(double a) { return {{"min", -a}, {"max", a}}; }
json sym(double a, int emin) { return {{"min", -a}, {"max", a}, {"emin", emin}}; }

TEST(DeployBackends, StpuWritesSymmetricRangesMergedReluEminAndBiasAlpha) {
  auto files = files_for("stpu");
  ASSERT_EQ(files.size(), 1u);
  // Weights: max(|min lo|, max hi): w0 max(1, 0.75) = 1; w1 max(0.6, 0.9); wt max(2, 1.5); wg 0.4.
  // Activations max(|lo|, hi); relu0 merged: c0 takes r0's 4.5.
  // emin = e(v) - 10, e the biased exponent of v = max(sqrt(n) * in * w, out):
  //   conv0: n = 2*3*3 = 18, sqrt(18) * 2 * 1 = 8.49 -> e = 3 + 127 -> 120;
  //   conv1: n = 2, sqrt(2) * 2 * 0.9 = 2.55 -> 1 + 127 -> 118;
  //   ct0: weight [6,2,2,2], n = 8, sqrt(8) * 7 * 2 = 39.6 -> 5 + 127 -> 122;
  //   gemm0: n = 128 (input [1,128]), max(sqrt(128) * 0.505 * 0.4 = 2.29, 257) -> 8 + 127 -> 125.
  // Bias alpha = (w range / 254) * (input range / 254).
  json expected = {{"conv0_weights", sym(1.0)},
                   {"conv1_weights", sym(0.9)},
                   {"ct0_weights", sym(2.0)},
                   {"gemm0_weights", sym(0.4)},
                   {"x", sym(2)},
                   {"c0", sym(4.5, 120)},
                   {"r0", sym(4.5)},
                   {"c1", sym(2, 118)},
                   {"a0", sym(6)},
                   {"k0", sym(7)},
                   {"t0", sym(8, 122)},
                   {"s0", sym(0.505)},
                   {"f0", sym(0.505)},
                   {"y", sym(257, 125)},
                   {"conv0_bias", {{"alpha", (2.0 / 254) * (4.0 / 254)}, {"zero_point", 0}}},
                   {"ct0_bias", {{"alpha", (4.0 / 254) * (14.0 / 254)}, {"zero_point", 0}}},
                   {"gemm0_bias", {{"alpha", (0.8 / 254) * (1.01 / 254)}, {"zero_point", 0}}}};
  expect_json_near(parse(files, "stpu_minmax.json"), expected);
}

TEST(DeployBackends, StpuWinogradRangesForThreeByThreeStrideOneConv) {
  auto files = files_for("stpu", /*stpu_wg=*/true);
  json j = parse(files, "stpu_minmax.json");
  // G k G^T with G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]]: for k = [[1..3],[4..6],[7..9]],
  // G k = [[2,4,6],[12,15,18],[4,5,6],[14,16,18]], then each row [a,b,c] -> [2a, a+b+c, a-b+c, 2c]:
  // largest 14+16+18 = 48, so 0.1 * 48 = 4.8; the (1,1) kernel gives at least -0.1 * 4 = -0.4.
  // Range max(4.8, 0.4) = 4.8. conv1 (1x1) is not Winograd.
  expect_json_near(j["layer_conv0"], json{{"wg", true}});
  EXPECT_FALSE(j.contains("layer_conv1"));
  expect_json_near(j["conv0_weights"], sym(4.8));
  // emin from the Winograd range: sqrt(18) * 2 * 4.8 = 40.7 -> 5 + 127 - 10.
  expect_json_near(j["c0"], sym(4.5, 122));
  expect_json_near(j["conv0_bias"], json{{"alpha", (9.6 / 254) * (4.0 / 254)}, {"zero_point", 0}});
  expect_json_near(j["conv1_weights"], sym(0.9));
}

// RV1126 entries.
json rv(double max_v, double min_v, double scale, int zp) {
  return {{"dtype", "asymmetric_affine"}, {"method", "layer"},          {"max_value", {max_v}},
          {"min_value", {min_v}},         {"qtype", "u8"},              {"scale", {scale}},
          {"zero_point", {zp}}};
}
json rv_bias(double scale) {
  return {{"dtype", "asymmetric_affine"}, {"method", "layer"}, {"max_value", json::array()},
          {"min_value", json::array()},   {"zero_point", {0}}, {"scale", {scale}},
          {"qtype", "i32"}};
}
json rk(double max_v, double min_v) { return {{"max", {max_v}}, {"min", {min_v}}}; }

// Concat: a0 and r0 take k0's [-1, 7]. ct0 feeds only sig0: left out. relu0 merged into conv0.
// step = (max(0,hi) - min(0,lo)) / 255, zero point round(-min(0,lo) / step), ties to even:
//   x [-1,2]: 3/255, 85;  w0 [-1,0.75]: 1.75/255, round(145.71) = 146;  k0 [-1,7]: 8/255,
//   round(31.875) = 32;  w1 [-0.6,0.9]: 1.5/255, 102;  c1 [-2,-0.5] -> [-2,0]: 2/255, 255;
//   s0 [0.5,0.505] -> [0,0.505]: 0.505/255, 0;  wg [-0.4,0.4]: 0.8/255, round(127.5) = 128;
//   y [-253,257]: 510/255 = 2, round(126.5) = 126 (to even).
// Bias scale = weight step * input step.
json rv1126_expected() {
  return {{"customized_quantize_layers", json::object()},
          {"quantize_parameters",
           {{"@x:out0", rv(2, -1, 3.0 / 255, 85)},
            {"@conv0:weight", rv(0.75, -1, 1.75 / 255, 146)},
            {"@conv0:bias", rv_bias(1.75 / 255 * (3.0 / 255))},
            {"@conv0:out0", rv(7, -1, 8.0 / 255, 32)},
            {"@relu0:out0", rv(7, -1, 8.0 / 255, 32)},
            {"@conv1:weight", rv(0.9, -0.6, 1.5 / 255, 102)},
            {"@conv1:out0", rv(0, -2, 2.0 / 255, 255)},
            {"@add0:out0", rv(7, -1, 8.0 / 255, 32)},
            {"@cat0:out0", rv(7, -1, 8.0 / 255, 32)},
            {"@sig0:out0", rv(0.505, 0, 0.505 / 255, 0)},
            {"@flat0:out0", rv(0.505, 0, 0.505 / 255, 0)},
            {"@gemm0:weight", rv(0.4, -0.4, 0.8 / 255, 128)},
            {"@gemm0:bias", rv_bias(0.8 / 255 * (0.505 / 255))},
            {"@gemm0:out0", rv(257, -253, 2.0, 126)}}}};
}

// RK3568: same rules; bias symmetric around its largest magnitude (conv0.bias 0.3, bg 1.5).
json rk3568_expected() {
  return {{"custom_quantize_layers", json::object()},
          {"quantize_parameters",
           {{"x", rk(2, -1)},
            {"conv0_W", rk(0.75, -1)},
            {"conv0_b", rk(0.3, -0.3)},
            {"c0", rk(7, -1)},
            {"r0", rk(7, -1)},
            {"conv1_W", rk(0.9, -0.6)},
            {"c1", rk(0, -2)},
            {"a0", rk(7, -1)},
            {"k0", rk(7, -1)},
            {"s0", rk(0.505, 0)},
            {"f0", rk(0.505, 0)},
            {"gemm0_W", rk(0.4, -0.4)},
            {"gemm0_b", rk(1.5, -1.5)},
            {"y", rk(257, -253)}}}};
}

TEST(DeployBackends, RvWritesRv1126AndRk3568InJsonAndYaml) {
  auto files = files_for("rv");
  ASSERT_EQ(files.size(), 4u);
  expect_json_near(parse(files, "rv_quantized_param.json"), rv1126_expected());
  expect_json_near(parse(files, "rk_quantized_param.json"), rk3568_expected());
  expect_json_near(parse_yaml(files["rv_quantized_param.yaml"]), rv1126_expected());
  expect_json_near(parse_yaml(files["rk_quantized_param.yaml"]), rk3568_expected());
}

TEST(DeployBackends, RvYamlIsPyYamlBlockStyle) {
  // A few lines exactly as PyYAML's yaml.dump writes them: sorted keys, quoted '@' keys,
  // lists of scalars not indented under their key, "{}" for an empty mapping.
  const std::string y = files_for("rv")["rv_quantized_param.yaml"];
  EXPECT_EQ(y.rfind("customized_quantize_layers: {}\nquantize_parameters:\n  '@add0:out0':\n"
                    "    dtype: asymmetric_affine\n    max_value:\n    - 7.0\n    method: layer\n"
                    "    min_value:\n    - -1.0\n    qtype: u8\n    scale:\n    - 0.03137254901960784\n"
                    "    zero_point:\n    - 32\n",
                    0),
            0u)
      << y.substr(0, 400);
  EXPECT_NE(y.find("  '@conv0:bias':\n    dtype: asymmetric_affine\n    max_value: []\n"), std::string::npos);
}

TEST(DeployBackends, ExtraTrtCacheHoldsFloat32ScaleBits) {
  DeployFixture f = deploy_fixture();
  DeployInput in{f.graph, platform_by_name("trt"), f.act, f.weight};
  auto files = by_name(extra_deploy_files(in, "trt_cache"));
  // float32(amax / 127) as IEEE-754 bits: 2/127 = 0x3c810204, 5/127 = 0x3d214285,
  // 4.5/127 = 0x3d112245, 6/127 = 0x3d418306, 7/127 = 0x3d61c387, 8/127 = 0x3d810204,
  // 0.505f/127 = 0x3b824c47, 257/127 = 0x40018306.
  EXPECT_EQ(files["trt_calib.cache"],
            "TRT-8601-EntropyCalibration2\nx: 3c810204\nc0: 3d214285\nr0: 3d112245\nc1: 3c810204\n"
            "a0: 3d418306\nk0: 3d61c387\nt0: 3d810204\ns0: 3b824c47\nf0: 3b824c47\ny: 40018306\n");
}

json aimet(int64_t offset, double scale, double min_v, double max_v, bool sym) {
  return {{"bitwidth", 8}, {"dtype", "int"}, {"is_symmetric", sym ? "True" : "False"}, {"max", max_v},
          {"min", min_v},  {"offset", offset}, {"scale", scale}};
}

TEST(DeployBackends, ExtraAimetEncodingsSymmetricPerChannel) {
  DeployFixture f = deploy_fixture();
  const Platform& trt = platform_by_name("trt");
  QdqModel q = build_qdq(f.graph, trt, f.act, f.weight, QdqOptions{});
  DeployInput in{f.graph, trt, f.act, f.weight, &q};
  in.act_algo = "minmax";
  json j = json::parse(by_name(extra_deploy_files(in, "aimet"))["aimet_encodings.json"]);
  EXPECT_EQ(j["version"], "0.6.1");
  // Every activation; the weights trt quantizes (first weight input of Conv, ConvTranspose, Gemm).
  std::set<std::string> acts, params;
  for (const auto& [k, v] : j["activation_encodings"].items()) acts.insert(k);
  for (const auto& [k, v] : j["param_encodings"].items()) params.insert(k);
  EXPECT_EQ(acts, (std::set<std::string>{"x", "c0", "r0", "c1", "a0", "k0", "t0", "s0", "f0", "y"}));
  EXPECT_EQ(params, (std::set<std::string>{"w0", "w1", "wt", "wg"}));
  // Symmetric: scale = max|.| / 127, offset -128, min = -128 * scale, max = 127 * scale.
  expect_json_near(j["activation_encodings"]["x"], json::array({aimet(-128, 2.0 / 127, -256.0 / 127, 2.0, true)}));
  expect_json_near(j["activation_encodings"]["y"],
                   json::array({aimet(-128, 257.0 / 127, -128 * 257.0 / 127, 257.0, true)}));
  // w0 per channel: max|.| 0.75, 0.5, 1.
  expect_json_near(j["param_encodings"]["w0"],
                   json::array({aimet(-128, 0.75 / 127, -96.0 / 127, 0.75, true),
                                aimet(-128, 0.5 / 127, -64.0 / 127, 0.5, true),
                                aimet(-128, 1.0 / 127, -128.0 / 127, 1.0, true)}));
  expect_json_near(j["quantizer_args"], json{{"activation_bitwidth", 8},
                                             {"dtype", "int"},
                                             {"is_symmetric", "True"},
                                             {"param_bitwidth", 8},
                                             {"per_channel_quantization", "True"},
                                             {"quant_scheme", "post_training_tf"}});
}

TEST(DeployBackends, ExtraAimetEncodingsAsymmetric) {
  DeployFixture f = deploy_fixture();
  const Platform& snpe = platform_by_name("snpe");
  QdqModel q = build_qdq(f.graph, snpe, f.act, f.weight, QdqOptions{});
  DeployInput in{f.graph, snpe, f.act, f.weight, &q};
  json j = json::parse(by_name(extra_deploy_files(in, "aimet"))["aimet_encodings.json"]);
  const json& a = j["activation_encodings"];
  // Asymmetric: scale = (max(0,hi) - min(0,lo)) / 255, offset = -round(-min(0,lo) / scale),
  // min = offset * scale, max = (offset + 255) * scale.
  expect_json_near(a["x"], json::array({aimet(-85, 3.0 / 255, -1.0, 2.0, false)}));
  expect_json_near(a["c1"], json::array({aimet(-255, 2.0 / 255, -2.0, 0.0, false)}));
  expect_json_near(a["s0"], json::array({aimet(0, 0.505 / 255, 0.0, 0.505, false)}));
  // y [-253, 257]: scale 2, -253/2 = -126.5 rounds to even: offset -126, min -252, max 258.
  expect_json_near(a["y"], json::array({aimet(-126, 2.0, -252.0, 258.0, false)}));
  // snpe weights are per tensor: w0 [-1, 0.75]: scale 1.75/255, offset -146, max 109 * scale.
  expect_json_near(j["param_encodings"]["w0"],
                   json::array({aimet(-146, 1.75 / 255, -146 * 1.75 / 255, 109 * 1.75 / 255, false)}));
  EXPECT_EQ(j["quantizer_args"]["quant_scheme"], "post_training_tf_enhanced");  // -A mse
  EXPECT_EQ(j["quantizer_args"]["per_channel_quantization"], "False");
}

}  // namespace
}  // namespace dpl::test
