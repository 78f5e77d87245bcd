// The per-tensor memory budget (core/memory_budget.h, --max_tensor_mb; docs/reliability.md,
// "Limits"): a model asking for a tensor over it is refused at preparation, naming the node or
// tensor, before any kernel runs; a shape only known at run time is refused when the tensor
// would be allocated, naming the node; the flag moves the limit both ways.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "cli_fixture.h"
#include "core/memory_budget.h"
#include "graph/model_builder.h"
#include "optimizer/prepare.h"
#include "runtime/session.h"
#include "util/error.h"

namespace dpl::test {
namespace {

// Sets the budget for one test and restores the default after it.
struct BudgetScope {
  explicit BudgetScope(size_t mb) { set_tensor_budget_bytes(mb << 20); }
  ~BudgetScope() { set_tensor_budget_bytes(0); }
};

// The error message of preparing `b`'s model, or "" when it prepares.
std::string prepare_error(const ModelBuilder& b) {
  OnnxGraph g = b.graph();
  try {
    prepare_model(g);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_has(const std::string& what, const std::vector<std::string>& parts) {
  ASSERT_FALSE(what.empty()) << "no error";
  for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
}

TEST(TensorLimits, DefaultIsHalfTheMachinesMemoryAndAtLeastOneGiB) {
  EXPECT_GE(default_tensor_budget_bytes(), size_t{1} << 30);
  EXPECT_EQ(tensor_budget_bytes(), default_tensor_budget_bytes());
  EXPECT_EQ(saturated_bytes({1000000, 1000000, 1000000, 1000000}, 4), SIZE_MAX);
  EXPECT_EQ(saturated_bytes({1000000, 1000000, 1000000, 1000000, 0}, 4), 0u);
  EXPECT_EQ(saturated_bytes({2, -1, 3}, 8), 48u);  // unknown dims count as 1
}

TEST(TensorLimits, ConstantOfShapeBombIsRefusedAtPreparation) {
  ModelBuilder b;
  b.input("x", {1}).init("shape", Tensor::from_vector<int64_t>({2}, {1000000, 1000000}));
  b.node("ConstantOfShape", {"shape"}, {"big"}, "bomb").node("Add", {"x", "big"}, {"y"}).output("y");
  const auto t0 = std::chrono::steady_clock::now();
  expect_has(prepare_error(b), {"node 'bomb' (ConstantOfShape)", "output 'big'", "[1000000,1000000]", "3814698 MB",
                                "--max_tensor_mb"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
}

TEST(TensorLimits, ResizeExpandAndTileThatExplodeAreRefused) {
  {
    ModelBuilder b;
    b.input("x", {1, 1, 2, 2}).init("scales", Tensor::from_vector<float>({4}, {1.f, 1.f, 1e6f, 1e6f}));
    b.node("Resize", {"x", "", "scales"}, {"y"}, "up").output("y");
    expect_has(prepare_error(b), {"node 'up' (Resize)", "[1,1,2000000,2000000]"});
  }
  {
    ModelBuilder b;
    b.input("x", {1, 1}).init("to", Tensor::from_vector<int64_t>({3}, {1000, 1000, 100000}));
    b.node("Expand", {"x", "to"}, {"y"}, "wide").output("y");
    expect_has(prepare_error(b), {"node 'wide' (Expand)", "[1000,1000,100000]"});
  }
  {
    ModelBuilder b;
    b.input("x", {2, 2}).init("reps", Tensor::from_vector<int64_t>({2}, {1000000, 1000000}));
    b.node("Tile", {"x", "reps"}, {"y"}, "tiles").output("y");
    expect_has(prepare_error(b), {"node 'tiles' (Tile)", "[2000000,2000000]"});
  }
  {
    // A bomb behind a Reshape: the shape flows through the reshape of the exploded tensor.
    ModelBuilder b;
    b.input("x", {1}).init("shape", Tensor::from_vector<int64_t>({3}, {100000, 100000, 100}));
    b.init("flat", Tensor::from_vector<int64_t>({1}, {-1}));
    b.node("ConstantOfShape", {"shape"}, {"c"}, "fill").node("Reshape", {"c", "flat"}, {"r"}, "flatten");
    b.node("Add", {"x", "r"}, {"y"}).output("y");
    expect_has(prepare_error(b), {"node 'fill' (ConstantOfShape)", "[100000,100000,100]"});
  }
}

TEST(TensorLimits, InitializerDeclaringHugeDimsWithoutDataIsRefused) {
  ModelBuilder b;
  b.input("x", {4}).node("Mul", {"x", "w"}, {"y"}).output("y");
  auto* w = b.model().mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {1000000, 1000000, 4}) w->add_dims(d);
  expect_has(prepare_error(b), {"initializer 'w'", "[1000000,1000000,4]", "--max_tensor_mb"});
  // Reading it directly is refused before allocating, too.
  try {
    b.graph().get_initializer("w");
    ADD_FAILURE() << "read";
  } catch (const Error& e) {
    expect_has(e.what(), {"tensor 'w'", "--max_tensor_mb"});
  }
  // Within the budget but without its data: the count is checked before allocating.
  w->clear_dims();
  w->add_dims(1000);
  try {
    b.graph().get_initializer("w");
    ADD_FAILURE() << "read";
  } catch (const Error& e) {
    expect_has(e.what(), {"tensor 'w' has 0 values for shape [1000]"});
  }
}

TEST(TensorLimits, BudgetIsSetByTheFlagsValue) {
  ModelBuilder b;
  b.input("x", {1}).init("shape", Tensor::from_vector<int64_t>({2}, {1024, 1024}));  // 4 MB of float
  b.node("ConstantOfShape", {"shape"}, {"c"}, "fill").node("Add", {"x", "c"}, {"y"}).output("y");
  {
    BudgetScope budget(3);
    expect_has(prepare_error(b), {"node 'fill' (ConstantOfShape)", "needs 4 MB, over the limit of 3 MB"});
  }
  BudgetScope budget(4);
  EXPECT_EQ(prepare_error(b), "");
}

TEST(TensorLimits, ConstantsMadeByFoldingAreHeldToTheBudgetTogether) {
  // Five ConstantOfShape nodes of 256 x 512 floats (512 KB each) under a 1 MB budget: each
  // output fits, their sum does not. Folding stops once the sum would pass the budget, and
  // the nodes left compute their constants at run time, with the same result.
  ModelBuilder b;
  b.input("x", {256, 512}).init("shape", Tensor::from_vector<int64_t>({2}, {256, 512}));
  std::string acc = "x";
  for (int i = 0; i < 5; ++i) {
    const std::string c = "c" + std::to_string(i), y = "y" + std::to_string(i);
    b.node("ConstantOfShape", {"shape"}, {c}, "fill" + std::to_string(i))
        .attr("value", Tensor::from_vector<float>({1}, {float(i + 1)}));
    b.node("Add", {acc, c}, {y});
    acc = y;
  }
  b.output(acc);
  BudgetScope budget(1);
  OnnxGraph g = b.graph();
  prepare_model(g, 13, /*simplify=*/false);
  SimplifyStats st = simplify(g);
  EXPECT_EQ(st.folded, 2) << st.summary();  // 2 x 512 KB = the budget; a third would pass it
  EXPECT_EQ(st.folded_bytes, size_t{1} << 20);
  EXPECT_GE(st.not_folded["folded constants over the budget"], 3) << st.summary();
  int left = 0;
  for (int i = 0; i < g.node_count(); ++i) left += g.node(i).op_type() == "ConstantOfShape";
  EXPECT_EQ(left, 3);
  Session s(g);
  std::vector<float> x(256 * 512);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7);
  const Tensor y = s.run({{"x", Tensor::from_vector<float>({256, 512}, x)}}).at(acc);
  ASSERT_EQ(y.numel(), 256 * 512);
  for (size_t i : {size_t{0}, size_t{1}, size_t{77777}, x.size() - 1}) EXPECT_EQ(y.data<float>()[i], x[i] + 15.f);
}

TEST(TensorLimits, ShapesKnownOnlyAtRunTimeAreCheckedAtAllocationNamingTheNode) {
  ModelBuilder b;
  b.input("x", {1, 1}).input("to", {2}, DType::I64);
  b.node("Expand", {"x", "to"}, {"y"}, "late").output("y");
  OnnxGraph g = b.graph();
  prepare_model(g);
  Session s(g);
  BudgetScope budget(1);
  const Tensor x = Tensor::from_vector<float>({1, 1}, {2.f});
  TensorMap small = s.run({{"x", x}, {"to", Tensor::from_vector<int64_t>({2}, {256, 256})}});  // 256 KB
  EXPECT_EQ(small.at("y").numel(), 256 * 256);
  try {
    s.run({{"x", x}, {"to", Tensor::from_vector<int64_t>({2}, {1024, 1024})}});
    ADD_FAILURE() << "a 4 MB tensor was made under a 1 MB budget";
  } catch (const Error& e) {
    expect_has(e.what(), {"node 'late' (Expand)", "[1024,1024]", "needs 4 MB, over the limit of 1 MB"});
  }
}

class TensorLimitsCli : public CliTest {
 protected:
  TensorLimitsCli() : CliTest("reliability_tests/limits", 0) {}
};

TEST_F(TensorLimitsCli, BothCommandsRefuseABombWithOneLineAndTakeTheFlag) {
  ModelBuilder b;
  b.input("x", {1, 4}).init("shape", Tensor::from_vector<int64_t>({2}, {1000000, 1000000}));
  b.node("ConstantOfShape", {"shape"}, {"big"}, "bomb").node("Add", {"x", "big"}, {"y"}).output("y");
  const auto model = work_ / "bomb.onnx";
  {
    std::ofstream f(model, std::ios::binary);
    ASSERT_TRUE(b.model().SerializeToOstream(&f));
  }
  std::filesystem::create_directories(work_ / "in" / "x");
  for (const auto& cmd :
       {quote(kDipoorlet.string()) + " -M " + quote(model.string()) + " -I " + quote((work_ / "in").string()) +
            " -N 1 -D trt -O " + quote((work_ / "out").string()),
        quote(kInfer.string()) + " -M " + quote(model.string()) + " -I " + quote((work_ / "in").string()) +
            " -N 1 -O " + quote((work_ / "out").string()) + " --max_tensor_mb 64"}) {
    const auto log = work_ / "run.log";
    EXPECT_EQ(run_command(cmd, log, 60), 1) << read_text(log);
    const std::string text = read_text(log);
    EXPECT_NE(text.find("error: node 'bomb' (ConstantOfShape): output 'big'"), std::string::npos) << text;
    EXPECT_NE(text.find("--max_tensor_mb"), std::string::npos) << text;
  }
  const auto log = work_ / "help.log";
  ASSERT_EQ(run_command(quote(kDipoorlet.string()) + " --help", log, 60), 0);
  EXPECT_NE(read_whole_text(log).find("--max_tensor_mb"), std::string::npos);  // the whole help, not its tail
  EXPECT_EQ(run_command(quote(kInfer.string()) + " --max_tensor_mb 0 -M x -I y -N 1 -O z", log, 60), 105)
      << read_text(log);
}

}  // namespace
}  // namespace dpl::test
