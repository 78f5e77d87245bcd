// Quantization parameters (docs/spec.md 6) and the platform table (docs/spec.md 5), worked by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "quant/platform.h"
#include "quant/quant_param.h"
#include "util/error.h"

namespace dpl {
namespace {

QuantSpec sym(bool per_channel = false) {
  QuantSpec s;
  s.symmetric = true;
  s.per_channel = per_channel;
  return s;
}
QuantSpec asym(bool per_channel = false) {
  QuantSpec s = sym(per_channel);
  s.symmetric = false;
  return s;
}
ChannelRanges ch(std::vector<float> lo, std::vector<float> hi) { return ChannelRanges{std::move(lo), std::move(hi)}; }

TEST(QuantParams, SymmetricPerTensor) {
  QuantParams p = quant_params(sym(), Range{-1.5f, 3.0f});
  ASSERT_EQ(p.scale.size(), 1u);
  EXPECT_FALSE(p.per_channel());
  EXPECT_TRUE(p.symmetric);
  EXPECT_EQ(p.zp_type, DType::I8);
  EXPECT_EQ(p.scale[0], static_cast<float>(3.0 / 127.0));  // float32 of the double quotient
  EXPECT_EQ(p.zero_point[0], 0);
  EXPECT_EQ(p.qmin[0], -127);
  EXPECT_EQ(p.qmax[0], 127);
  // The larger magnitude wins, whichever side it is on.
  EXPECT_EQ(quant_params(sym(), Range{-4.f, 1.f}).scale[0], static_cast<float>(4.0 / 127.0));
}

TEST(QuantParams, AsymmetricPerTensor) {
  // [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
  QuantParams p = quant_params(asym(), Range{-1.f, 3.f});
  EXPECT_FALSE(p.symmetric);
  EXPECT_EQ(p.zp_type, DType::U8);
  EXPECT_EQ(p.scale[0], static_cast<float>(4.0 / 255.0));
  EXPECT_EQ(p.zero_point[0], 64);
  EXPECT_EQ(p.qmin[0], -64);
  EXPECT_EQ(p.qmax[0], 191);
  // The range always covers 0: [0.5, 2] -> [0, 2], zero point 0.
  p = quant_params(asym(), Range{0.5f, 2.f});
  EXPECT_EQ(p.scale[0], static_cast<float>(2.0 / 255.0));
  EXPECT_EQ(p.zero_point[0], 0);
  EXPECT_EQ(p.qmin[0], 0);
  EXPECT_EQ(p.qmax[0], 255);
  // [-2, -0.5] -> [-2, 0], zero point 255.
  p = quant_params(asym(), Range{-2.f, -0.5f});
  EXPECT_EQ(p.scale[0], static_cast<float>(2.0 / 255.0));
  EXPECT_EQ(p.zero_point[0], 255);
  EXPECT_EQ(p.qmin[0], -255);
  EXPECT_EQ(p.qmax[0], 0);
}

TEST(QuantParams, AsymmetricZeroPointRoundsHalfToEven) {
  // Ranges with an exact scale of 2^-8 and -lo/scale exactly 2.5 and 3.5.
  const float s = 1.f / 256.f;
  QuantParams a = quant_params(asym(), Range{-2.5f * s, 252.5f * s});
  EXPECT_EQ(a.scale[0], s);
  EXPECT_EQ(a.zero_point[0], 2);  // 2.5 -> 2
  EXPECT_EQ(a.qmin[0], -2);
  EXPECT_EQ(a.qmax[0], 253);
  QuantParams b = quant_params(asym(), Range{-3.5f * s, 251.5f * s});
  EXPECT_EQ(b.scale[0], s);
  EXPECT_EQ(b.zero_point[0], 4);  // 3.5 -> 4
}

TEST(QuantParams, PerChannelSymmetric) {
  QuantParams p = quant_params(sym(true), ch({-1.f, -0.1f, 0.f}, {0.5f, 0.2f, 0.f}));
  ASSERT_EQ(p.scale.size(), 3u);
  EXPECT_TRUE(p.per_channel());
  EXPECT_EQ(p.scale[0], static_cast<float>(1.0 / 127.0));
  EXPECT_EQ(p.scale[1], static_cast<float>(static_cast<double>(0.2f) / 127.0));
  EXPECT_EQ(p.scale[2], 1.f);  // all-zero channel
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(p.zero_point[c], 0);
    EXPECT_EQ(p.qmin[c], -127);
    EXPECT_EQ(p.qmax[c], 127);
  }
  EXPECT_EQ(p.zp_type, DType::I8);
}

TEST(QuantParams, PerChannelAsymmetric) {
  const float s = 1.f / 256.f;
  QuantParams p = quant_params(asym(true), ch({-2.5f * s, 0.5f, -1.f}, {252.5f * s, 255.f * s, -0.5f}));
  ASSERT_EQ(p.scale.size(), 3u);
  EXPECT_EQ(p.zp_type, DType::U8);
  EXPECT_EQ(p.scale[0], s);
  EXPECT_EQ(p.zero_point[0], 2);
  EXPECT_EQ(p.scale[1], s);  // [0.5, 255/256] -> [0, 255/256]
  EXPECT_EQ(p.zero_point[1], 0);
  EXPECT_EQ(p.scale[2], static_cast<float>(1.0 / 255.0));
  EXPECT_EQ(p.zero_point[2], 255);
  EXPECT_EQ(p.qmin[0], -2);
  EXPECT_EQ(p.qmax[0], 253);
  EXPECT_EQ(p.qmin[2], -255);
  EXPECT_EQ(p.qmax[2], 0);
}

TEST(QuantParams, PerTensorReducesChannelRanges) {
  // Weights of a per-tensor platform: [min lo, max hi] over the channels.
  QuantParams p = quant_params(sym(false), ch({-1.f, -3.f}, {2.f, 1.f}));
  ASSERT_EQ(p.scale.size(), 1u);
  EXPECT_EQ(p.scale[0], static_cast<float>(3.0 / 127.0));
  p = quant_params(asym(false), ch({-1.f, 0.f}, {2.f, 3.f}));
  ASSERT_EQ(p.scale.size(), 1u);
  EXPECT_EQ(p.scale[0], static_cast<float>(4.0 / 255.0));
  EXPECT_EQ(p.zero_point[0], 64);
  // A per-channel spec with one channel gives a per-tensor (scalar) result.
  EXPECT_FALSE(quant_params(sym(true), ch({-1.f}, {1.f})).per_channel());
}

TEST(QuantParams, PowerOfTwoScale) {
  QuantSpec s = sym();
  s.log_scale = true;
  // 1/127 = 2^-6.989 -> 2^-7.
  EXPECT_EQ(quant_params(s, Range{-1.f, 1.f}).scale[0], 0.0078125f);
  // 3/127 = 2^-5.41 -> 2^-5.
  EXPECT_EQ(quant_params(s, Range{-0.5f, 3.f}).scale[0], 0.03125f);
  // 96/127 = 2^-0.404 -> 2^0.
  EXPECT_EQ(quant_params(s, Range{-96.f, 0.f}).scale[0], 1.f);
  // Per channel (imx weights).
  s.per_channel = true;
  QuantParams p = quant_params(s, ch({-1.f, -0.5f}, {1.f, 3.f}));
  ASSERT_EQ(p.scale.size(), 2u);
  EXPECT_EQ(p.scale[0], 0.0078125f);
  EXPECT_EQ(p.scale[1], 0.03125f);
  // A zero scale becomes 1 before the rounding: 2^0.
  EXPECT_EQ(quant_params(s, ch({0.f, -1.f}, {0.f, 1.f})).scale[0], 1.f);
}

TEST(QuantParams, DynamicSymBothWays) {
  QuantSpec s = sym();
  s.dynamic_sym = true;
  // Starts below 0: stays symmetric.
  QuantParams p = quant_params(s, Range{-0.5f, 2.54f});
  EXPECT_TRUE(p.symmetric);
  EXPECT_EQ(p.zp_type, DType::I8);
  EXPECT_EQ(p.scale[0], static_cast<float>(static_cast<double>(2.54f) / 127.0));
  EXPECT_EQ(p.qmin[0], -127);
  // Starts at 0 (after a Relu): asymmetric, the full 0..255.
  p = quant_params(s, Range{0.f, 2.55f});
  EXPECT_FALSE(p.symmetric);
  EXPECT_EQ(p.zp_type, DType::U8);
  EXPECT_EQ(p.scale[0], static_cast<float>(static_cast<double>(2.55f) / 255.0));
  EXPECT_EQ(p.zero_point[0], 0);
  EXPECT_EQ(p.qmin[0], 0);
  EXPECT_EQ(p.qmax[0], 255);
  // Within 1e-6 of 0 counts as 0; 2e-6 does not.
  EXPECT_FALSE(quant_params(s, Range{-5e-7f, 2.55f}).symmetric);
  EXPECT_EQ(quant_params(s, Range{-5e-7f, 2.55f}).zero_point[0], 0);
  EXPECT_TRUE(quant_params(s, Range{-2e-6f, 2.55f}).symmetric);
  // The ti platform's activations: dynamic_sym with power-of-two scales.
  const QuantSpec& ti = platform_by_name("ti").act;
  p = quant_params(ti, Range{0.f, 2.55f});  // 0.01 = 2^-6.64 -> 2^-7
  EXPECT_FALSE(p.symmetric);
  EXPECT_EQ(p.scale[0], 0.0078125f);
  EXPECT_EQ(p.zero_point[0], 0);
  p = quant_params(ti, Range{-1.f, 1.f});
  EXPECT_TRUE(p.symmetric);
  EXPECT_EQ(p.scale[0], 0.0078125f);
  // Without dynamic_sym a range at 0 stays symmetric.
  EXPECT_TRUE(quant_params(sym(), Range{0.f, 2.55f}).symmetric);
}

TEST(QuantParams, ZeroRangeGetsScaleOne) {
  QuantParams p = quant_params(sym(), Range{0.f, 0.f});
  EXPECT_EQ(p.scale[0], 1.f);
  EXPECT_EQ(p.zero_point[0], 0);
  p = quant_params(asym(), Range{0.f, 0.f});
  EXPECT_EQ(p.scale[0], 1.f);
  EXPECT_EQ(p.zero_point[0], 0);
  EXPECT_EQ(p.qmax[0], 255);
  p = quant_params(asym(true), ch({0.f, -1.f}, {0.f, 1.f}));
  EXPECT_EQ(p.scale[0], 1.f);
  EXPECT_EQ(p.zero_point[0], 0);
  EXPECT_EQ(p.scale[1], static_cast<float>(2.0 / 255.0));
}

// Found by fuzz_quant (docs/fuzzing.md): a range of denormal width made a float32 scale of 0
// (the QDQ model divided by it); a range near FLT_MAX with power-of-two scales rounded up to
// 2^128, infinity. Every scale is now finite, positive and normal.
TEST(QuantParams, ExtremeRangesGiveFiniteNormalScales) {
  const float tiny = 1e-44f, big = std::numeric_limits<float>::max();
  QuantSpec log2_sym = sym();
  log2_sym.log_scale = true;
  QuantSpec two_bit = sym();
  two_bit.bits = 2;
  for (const QuantSpec& spec : {sym(), asym(), log2_sym, two_bit})
    for (const Range& r : {Range{0.f, tiny}, Range{-tiny, tiny}, Range{-big, big}, Range{0.f, big}, Range{-big, 0.f}}) {
      const QuantParams p = quant_params(spec, r);
      EXPECT_TRUE(std::isfinite(p.scale[0]) && p.scale[0] >= std::numeric_limits<float>::min())
          << p.scale[0] << " for [" << r.lo << ", " << r.hi << "] at " << spec.bits << " bits";
      EXPECT_TRUE(p.zero_point[0] >= (p.symmetric ? -128 : 0) && p.zero_point[0] <= (p.symmetric ? 127 : 255));
    }
  // A denormal-wide range quantizes as the zero range does.
  EXPECT_EQ(quant_params(sym(), Range{-tiny, tiny}).scale[0], 1.f);
  EXPECT_EQ(quant_params(asym(), Range{0.f, tiny}).zero_point[0], 0);
  // The largest range keeps its step: FLT_MAX / 127 in float32, and 2^121 (nearest power of two).
  EXPECT_EQ(quant_params(sym(), Range{-big, big}).scale[0], static_cast<float>(double(big) / 127));
  EXPECT_EQ(quant_params(log2_sym, Range{-big, big}).scale[0], std::exp2(121.f));
  // Two bits, qmax 1: the step is the range itself, rounded to 2^127 with power-of-two scales.
  QuantSpec two_bit_log2 = two_bit;
  two_bit_log2.log_scale = true;
  EXPECT_EQ(quant_params(two_bit_log2, Range{-big, big}).scale[0], std::exp2(127.f));
}

TEST(QuantParams, OtherBitWidths) {
  QuantSpec s = sym();
  s.bits = 4;
  QuantParams p = quant_params(s, Range{-7.f, 3.5f});
  EXPECT_EQ(p.scale[0], 1.f);
  EXPECT_EQ(p.qmin[0], -7);
  EXPECT_EQ(p.qmax[0], 7);
  s = asym();
  s.bits = 4;
  p = quant_params(s, Range{-5.f, 10.f});
  EXPECT_EQ(p.scale[0], 1.f);
  EXPECT_EQ(p.zero_point[0], 5);
  EXPECT_EQ(p.qmax[0], 10);
  s.bits = 9;
  EXPECT_THROW(quant_params(s, Range{-1.f, 1.f}), Error);
}

TEST(QuantParams, BadRangesThrow) {
  EXPECT_THROW(quant_params(sym(true), ch({-1.f, -1.f}, {1.f})), Error);
  EXPECT_THROW(quant_params(sym(true), ch({}, {})), Error);
  EXPECT_THROW(quant_params(sym(), Range{-INFINITY, 1.f}), Error);
  EXPECT_THROW(quant_params(asym(), Range{NAN, 1.f}), Error);
}

TEST(QuantParams, IntegerCodesOfABitWidth) {
  EXPECT_EQ(unsigned_max_code(8), 255);
  EXPECT_EQ(signed_min_code(8), -128);
  EXPECT_EQ(signed_max_code(8), 127);
  EXPECT_EQ(unsigned_max_code(4), 15);
  EXPECT_EQ(signed_min_code(4), -8);
  EXPECT_EQ(signed_max_code(4), 7);
  QuantSpec s4;
  s4.bits = 4;
  s4.symmetric = false;
  const QuantParams p = quant_params(s4, Range{-1.f, 2.f});
  EXPECT_FLOAT_EQ(p.scale[0], 3.f / 15);
  EXPECT_EQ(p.qmax[0] - p.qmin[0], unsigned_max_code(4));
  const Tensor zp = zero_point_tensor(p);
  EXPECT_EQ(zp.dtype(), DType::U8);
  EXPECT_EQ(zp.rank(), 0);
  EXPECT_EQ(zp.data<uint8_t>()[0], p.zero_point[0]);
  EXPECT_EQ(scale_tensor(p).data<float>()[0], p.scale[0]);
}

TEST(Platforms, TableMatchesSpec) {
  EXPECT_EQ(platform_names(),
            (std::vector<std::string>{"trt", "stpu", "magicmind", "rv", "atlas", "snpe", "ti", "imx"}));
  const std::vector<std::string> basic = {"Relu",        "Eltwise", "MaxPool", "Conv", "Gemm",
                                          "ConvTranspose", "PRelu", "AveragePool", "Concat", "Split",
                                          "Add",         "Mul",     "Abs",     "Reciprocal", "Sigmoid"};
  const Platform& trt = platform_by_name("trt");
  EXPECT_EQ(trt.quant_nodes, (std::vector<std::string>{"Relu", "MaxPool", "Conv", "Gemm", "ConvTranspose", "PRelu",
                                                       "AveragePool", "Add", "Sigmoid"}));
  EXPECT_TRUE(trt.weight.symmetric && trt.weight.per_channel && trt.act.symmetric);
  EXPECT_FALSE(trt.quantize_network_output || trt.deploy_weight);
  EXPECT_FALSE(trt.quantizes("Mul"));

  const Platform& stpu = platform_by_name("stpu");
  for (const auto& op : basic) EXPECT_TRUE(stpu.quantizes(op)) << op;
  EXPECT_TRUE(stpu.quantizes("Clip") && stpu.quantizes("HardSigmoid"));
  EXPECT_EQ(stpu.quant_nodes.size(), basic.size() + 2);
  EXPECT_TRUE(stpu.weight.symmetric && !stpu.weight.per_channel && stpu.act.symmetric);
  EXPECT_TRUE(!stpu.quantize_network_output && stpu.deploy_weight);

  const Platform& mm = platform_by_name("magicmind");
  EXPECT_EQ(mm.quant_nodes, (std::vector<std::string>{"Gemm", "Conv", "ConvTranspose", "MatMul"}));
  EXPECT_TRUE(!mm.weight.symmetric && mm.weight.per_channel && !mm.act.symmetric);
  EXPECT_FALSE(mm.quantize_network_output || mm.deploy_weight);

  const Platform& rv = platform_by_name("rv");
  EXPECT_EQ(rv.quant_nodes, basic);
  EXPECT_TRUE(!rv.weight.symmetric && !rv.weight.per_channel && !rv.act.symmetric);
  EXPECT_TRUE(rv.quantize_network_output && rv.deploy_weight);

  const Platform& atlas = platform_by_name("atlas");
  EXPECT_EQ(atlas.quant_nodes, (std::vector<std::string>{"Conv", "Gemm", "AveragePool"}));
  EXPECT_TRUE(atlas.weight.symmetric && atlas.weight.per_channel && !atlas.act.symmetric);
  EXPECT_FALSE(atlas.quantize_network_output || atlas.deploy_weight);

  const Platform& snpe = platform_by_name("snpe");
  EXPECT_EQ(snpe.quant_nodes, basic);  // basic + Sigmoid: Sigmoid is in basic already
  EXPECT_TRUE(!snpe.weight.symmetric && !snpe.weight.per_channel && !snpe.act.symmetric);
  EXPECT_TRUE(snpe.quantize_network_output && !snpe.deploy_weight);

  const Platform& ti = platform_by_name("ti");
  EXPECT_EQ(ti.quant_nodes, basic);
  EXPECT_TRUE(ti.weight.symmetric && !ti.weight.per_channel && !ti.weight.log_scale);
  EXPECT_TRUE(ti.act.symmetric && ti.act.dynamic_sym && ti.act.log_scale);
  EXPECT_FALSE(ti.quantize_network_output || ti.deploy_weight);

  const Platform& imx = platform_by_name("imx");
  EXPECT_EQ(imx.quant_nodes, basic);
  EXPECT_TRUE(imx.weight.symmetric && imx.weight.per_channel && imx.weight.log_scale);
  EXPECT_TRUE(imx.act.symmetric && imx.act.log_scale && !imx.act.dynamic_sym);
  EXPECT_TRUE(imx.quantize_network_output && imx.deploy_weight);

  for (const auto& name : platform_names()) {
    const Platform& p = platform_by_name(name);
    EXPECT_EQ(p.weight.bits, 8);
    EXPECT_EQ(p.act.bits, 8);
    EXPECT_FALSE(p.act.per_channel);
    EXPECT_EQ(p.fuses_add_into_conv, name == "trt") << name;
    if (name != "ti") {
      EXPECT_FALSE(p.act.dynamic_sym || p.weight.dynamic_sym);
    }
  }
}

TEST(Platforms, UnknownNameListsValidOnes) {
  try {
    platform_by_name("tensorrt");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("tensorrt"), std::string::npos) << m;
    EXPECT_NE(m.find("trt, stpu, magicmind, rv, atlas, snpe, ti, imx"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace dpl
