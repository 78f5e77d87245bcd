// `dipoorlet --quant_format QOP` on the bundled example: qop_model.onnx is
// written only with QOP, passes onnx::checker with ai.onnx operators only, and the flags
// reject values the original does not take (CLI11's exit 105, nothing written).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "cli_fixture.h"
#include "quant/qdq_test_util.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

// dipoorlet on the example, 4 samples, -D snpe -A minmax, no per-layer profile.
class QopCli : public CliTest {
 protected:
  QopCli() : CliTest("qop_cli", 4, "-D snpe -A minmax --skip_prof_layer") {}
};

TEST_F(QopCli, WritesTheQopModelOnlyWithQop) {
  ASSERT_EQ(run_example("qdq", ""), 0) << read_text(work_ / "qdq.log");
  EXPECT_TRUE(fs::exists(work_ / "qdq" / "quant_model.onnx"));
  EXPECT_FALSE(fs::exists(work_ / "qdq" / "qop_model.onnx"));

  ASSERT_EQ(run_example("qop", "--quant_format QOP --qnode_version 13"), 0) << read_text(work_ / "qop.log");
  const fs::path qop = work_ / "qop" / "qop_model.onnx";
  ASSERT_TRUE(fs::exists(qop));
  OnnxGraph g = OnnxGraph::load(qop.string());
  EXPECT_EQ(check_onnx(g, true), "");
  for (const auto& n : g.graph().node()) EXPECT_TRUE(n.domain().empty()) << n.op_type() << " in " << n.domain();
  EXPECT_GT(count_op(g, "QLinearConv"), 0);
  EXPECT_NE(read_text(work_ / "qop.log").find("QOP model: "), std::string::npos) << read_text(work_ / "qop.log");
}

TEST_F(QopCli, RejectsValuesTheOriginalDoesNotTake) {
  EXPECT_EQ(run_example("lower", "--quant_format qop"), 105) << read_text(work_ / "lower.log");
  EXPECT_NE(read_text(work_ / "lower.log").find("--quant_format"), std::string::npos) << read_text(work_ / "lower.log");
  EXPECT_EQ(run_example("v12", "--quant_format QOP --qnode_version 12"), 105) << read_text(work_ / "v12.log");
  EXPECT_NE(read_text(work_ / "v12.log").find("--qnode_version"), std::string::npos) << read_text(work_ / "v12.log");
  EXPECT_FALSE(fs::exists(work_ / "lower"));
  EXPECT_FALSE(fs::exists(work_ / "v12"));
}

}  // namespace
}  // namespace dpl::test
