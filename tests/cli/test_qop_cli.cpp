// `dipoorlet --quant_format QOP` (issue 4 item 2) on the bundled example: qop_model.onnx is
// written only with QOP, passes onnx::checker with ai.onnx operators only, and the flags
// reject values the original does not take (CLI11's exit 105, nothing written).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "parity/parity_util.h"
#include "quant/qdq_test_util.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

const fs::path kDipoorlet = fs::path(DPL_BINARY_DIR) / "dipoorlet";

class QopCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kDipoorlet)) << kDipoorlet << " is not built";
    work_ = fs::path(DPL_BINARY_DIR) / "qop_cli" / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(work_);
    fs::create_directories(work_);
    make_example_in(work_, 4);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(work_);
  }
  // Runs dipoorlet on the example into work_/<out> with extra flags; returns the exit status.
  int quantize(const std::string& out, const std::string& flags) {
    return run_command(quote(kDipoorlet.string()) + " -M " + quote((work_ / "example" / "tiny_cnn.onnx").string()) +
                           " -I " + quote((work_ / "example" / "calib").string()) + " -N 4 -D snpe -A minmax " +
                           "--skip_prof_layer -O " + quote((work_ / out).string()) + " " + flags,
                       work_ / (out + ".log"));
  }
  fs::path work_;
};

TEST_F(QopCli, WritesTheQopModelOnlyWithQop) {
  ASSERT_EQ(quantize("qdq", ""), 0) << read_text(work_ / "qdq.log");
  EXPECT_TRUE(fs::exists(work_ / "qdq" / "quant_model.onnx"));
  EXPECT_FALSE(fs::exists(work_ / "qdq" / "qop_model.onnx"));

  ASSERT_EQ(quantize("qop", "--quant_format QOP --qnode_version 13"), 0) << read_text(work_ / "qop.log");
  const fs::path qop = work_ / "qop" / "qop_model.onnx";
  ASSERT_TRUE(fs::exists(qop));
  OnnxGraph g = OnnxGraph::load(qop.string());
  EXPECT_EQ(check_onnx(g, true), "");
  for (const auto& n : g.graph().node()) EXPECT_TRUE(n.domain().empty()) << n.op_type() << " in " << n.domain();
  EXPECT_GT(count_op(g, "QLinearConv"), 0);
  EXPECT_NE(read_text(work_ / "qop.log").find("QOP model: "), std::string::npos) << read_text(work_ / "qop.log");
}

TEST_F(QopCli, RejectsValuesTheOriginalDoesNotTake) {
  EXPECT_EQ(quantize("lower", "--quant_format qop"), 105) << read_text(work_ / "lower.log");
  EXPECT_NE(read_text(work_ / "lower.log").find("--quant_format"), std::string::npos) << read_text(work_ / "lower.log");
  EXPECT_EQ(quantize("v12", "--quant_format QOP --qnode_version 12"), 105) << read_text(work_ / "v12.log");
  EXPECT_NE(read_text(work_ / "v12.log").find("--qnode_version"), std::string::npos) << read_text(work_ / "v12.log");
  EXPECT_FALSE(fs::exists(work_ / "lower"));
  EXPECT_FALSE(fs::exists(work_ / "v12"));
}

}  // namespace
}  // namespace dpl::test
