// `dipoorlet --optim_transformer` on the fmnist-dev ViT (docs/transformers.md): the log's
// pattern table, the one-line hint without the flag, the deploy files of the new sites, the
// QOperator model, and --model_type. Skipped with a message when ../shared is absent.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_fixture.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

const fs::path kVit = kModels / "fmnist-dev" / "vit_dev.onnx";

class TransformerCli : public CliTest {
 protected:
  TransformerCli() : CliTest("cli_tests/transformer", 0) {}
  void SetUp() override {
    CliTest::SetUp();
    if (!fs::exists(kVit) || !fs::exists(kMnist)) GTEST_SKIP() << kVit << " or " << kMnist << " not found";
    fs::create_directories(work_ / "calib" / "input");
    fmnist_style_inputs(work_ / "calib", "input", 2);
  }
  // dipoorlet on the ViT with 2 samples, output in <work>/<out>, console in <work>/<out>.log.
  int run(const std::string& out, const std::string& flags) {
    return run_command(quote(kDipoorlet.string()) + " -M " + quote(kVit.string()) + " -I " +
                           quote((work_ / "calib").string()) + " -N 2 -A minmax --skip_prof_layer --threads 2 -O " +
                           quote((work_ / out).string()) + " " + flags,
                       work_ / (out + ".log"));
  }
  std::string log(const std::string& out) { return read_whole_text(work_ / (out + ".log")); }
};

TEST_F(TransformerCli, WithoutTheFlagOneLineSaysWhatItWouldChange) {
  ASSERT_EQ(run("plain", "-D trt"), 0) << log("plain");
  const std::string l = log("plain");
  EXPECT_NE(l.find("the model holds transformer patterns (9 LayerNorm, 4 GELU (Erf), 4 Softmax"), std::string::npos)
      << l;
  EXPECT_NE(l.find("--optim_transformer would quantize the inputs of the 24 MatMuls"), std::string::npos) << l;
  EXPECT_EQ(l.find("transformer placement:"), std::string::npos) << l;
}

TEST_F(TransformerCli, TheLogSaysWhatEachQuantizedNodeMatched) {
  ASSERT_EQ(run("trt", "-D trt --optim_transformer"), 0) << log("trt");
  const std::string l = log("trt");
  EXPECT_NE(l.find("transformer placement: quantized"), std::string::npos) << l;
  EXPECT_NE(l.find("4 attention Q.K^T"), std::string::npos) << l;
  EXPECT_NE(l.find("4 attention probabilities.V"), std::string::npos) << l;
  EXPECT_NE(l.find("16 linear (constant weight)"), std::string::npos) << l;
  EXPECT_NE(l.find("kept in float inside LayerNorm: 18 nodes"), std::string::npos) << l;
  EXPECT_NE(l.find("/blocks/blocks.0/attn/MatMul: attention Q.K^T"), std::string::npos) << l;
  EXPECT_EQ(l.find("the model holds transformer patterns"), std::string::npos) << l;
  EXPECT_TRUE(fs::exists(work_ / "trt" / "quant_model.onnx"));
  // trt_clip_val.json holds the ranges of the MatMul inputs the QDQ model quantizes.
  const auto trt = nlohmann::json::parse(read_whole_text(work_ / "trt" / "trt_clip_val.json"));
  EXPECT_TRUE(trt["blob_range"].contains("/blocks/blocks.0/attn/Softmax_output_0"));
  EXPECT_TRUE(trt["blob_range"].contains("/blocks/blocks.0/attn/Mul_output_0"));
}

// atlas lists the inputs of the ops it quantizes: with the flag, the MatMuls' too.
TEST_F(TransformerCli, AtlasListsTheMatMulInputs) {
  ASSERT_EQ(run("atlas", "-D atlas --optim_transformer"), 0) << log("atlas");
  const auto j = nlohmann::json::parse(read_whole_text(work_ / "atlas" / "atlas_quant_param.json"));
  EXPECT_TRUE(j.contains("/blocks/blocks.0/attn/Softmax_output_0")) << j.dump();
  EXPECT_TRUE(j.contains("/blocks/blocks.0/n1/Add_1_output_0")) << j.dump();
  ASSERT_EQ(run("atlas_plain", "-D atlas"), 0) << log("atlas_plain");
  const auto p = nlohmann::json::parse(read_whole_text(work_ / "atlas_plain" / "atlas_quant_param.json"));
  EXPECT_FALSE(p.contains("/blocks/blocks.0/attn/Softmax_output_0")) << p.dump();
}

// The QOperator model: QLinearMatMul for the MatMuls whose inputs are quantized, the attention
// products included.
TEST_F(TransformerCli, QopModelLowersTheMatMuls) {
  ASSERT_EQ(run("qop", "-D trt --optim_transformer --quant_format QOP"), 0) << log("qop");
  EXPECT_TRUE(fs::exists(work_ / "qop" / "qop_model.onnx"));
  const std::string l = log("qop");
  EXPECT_NE(l.find("QOP model:"), std::string::npos) << l;
}

TEST_F(TransformerCli, ModelTypeUnetIsTheSamePlacementOthersAreRefused) {
  ASSERT_EQ(run("unet", "-D trt --model_type unet"), 0) << log("unet");
  EXPECT_NE(log("unet").find("transformer placement: quantized"), std::string::npos) << log("unet");
  const int rc = run("bad", "-D trt --model_type llm");
  EXPECT_NE(rc, 0);
  EXPECT_NE(log("bad").find("--model_type"), std::string::npos) << log("bad");
}

}  // namespace
}  // namespace dpl::test
