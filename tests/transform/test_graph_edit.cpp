// The schedule and sub-models of the incremental transforms (transform/graph_edit.h): nodes
// on parallel branches share a level, a node after both comes later; a model cut at a
// tensor holds only what that tensor needs; an initializer shared by two nodes is copied
// before one of them edits it.
#include <gtest/gtest.h>

#include <algorithm>

#include "transform/graph_edit.h"
#include "transform/transform_test_util.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

// x -> convA -> reluA -> convC;  x -> convB -> convC's other branch (Add) -> convD.
OnnxGraph branchy() {
  ModelBuilder b(13);
  b.input("x", {1, 2, 4, 4});
  add_conv(b, "convA", "x", "a", 2, 2, 1, 1, 0, 1);
  b.node("Relu", {"a"}, {"ra"}, "reluA");
  add_conv(b, "convB", "x", "bb", 2, 2, 1, 1, 0, 2);
  add_conv(b, "convC", "ra", "c", 2, 2, 1, 1, 0, 3);
  b.node("Add", {"c", "bb"}, {"s"}, "add");
  add_conv(b, "convD", "s", "y", 2, 2, 1, 1, 0, 4);
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

TEST(GraphEdit, DependencyLevelsGroupIndependentNodes) {
  const OnnxGraph g = branchy();
  std::vector<int> convs;
  for (const char* n : {"convA", "convB", "convC", "convD"}) convs.push_back(g.node_index(n));
  const auto levels = transform::dependency_levels(g, convs);
  ASSERT_EQ(levels.size(), 3u);
  auto names = [&](const std::vector<int>& l) {
    std::vector<std::string> r;
    for (int i : l) r.push_back(g.node(i).name());
    std::sort(r.begin(), r.end());
    return r;
  };
  EXPECT_EQ(names(levels[0]), (std::vector<std::string>{"convA", "convB"}));
  EXPECT_EQ(names(levels[1]), std::vector<std::string>{"convC"});
  EXPECT_EQ(names(levels[2]), std::vector<std::string>{"convD"});
}

TEST(GraphEdit, GraphUpToKeepsOnlyWhatTheTargetsNeed) {
  const OnnxGraph g = branchy();
  const OnnxGraph sub = transform::graph_up_to(g, {"c"});
  EXPECT_EQ(sub.network_outputs(), std::vector<std::string>{"c"});
  EXPECT_EQ(sub.node_count(), 3);  // convA, reluA, convC
  EXPECT_FALSE(sub.has_node("convB"));
  EXPECT_FALSE(sub.is_initializer("convB_w"));
  const auto samples = random_samples("x", {1, 2, 4, 4}, 2, 5);
  EXPECT_GE(cosine(run_all(sub, samples, "c"), run_all(g, samples, "c")), 0.9999999);
}

TEST(GraphEdit, SharedInitializerIsCopiedBeforeAnEdit) {
  ModelBuilder b(13);
  b.input("x", {1, 2, 4, 4});
  b.init("w", random_tensor({2, 2, 1, 1}, 7))
      .node("Conv", {"x", "w"}, {"p"}, "p_conv")
      .node("Conv", {"x", "w"}, {"q"}, "q_conv")
      .output("p")
      .output("q");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  const Tensor before = g.get_initializer("w").clone();
  transform::set_node_input_value(g, g.node_index("q_conv"), 1, Tensor::zeros(DType::F32, {2, 2, 1, 1}), "weight");
  EXPECT_EQ(g.node(g.node_index("p_conv")).input(1), "w");
  EXPECT_EQ(g.node(g.node_index("q_conv")).input(1), "q_conv_weight");
  expect_tensor_near(g.get_initializer("w"), before, 0, 0);
  // Now q_conv owns its weight: a second edit writes in place.
  transform::set_node_input_value(g, g.node_index("q_conv"), 1, before, "weight");
  EXPECT_EQ(g.node(g.node_index("q_conv")).input(1), "q_conv_weight");
  // A missing optional input is appended as a new initializer.
  transform::set_node_input_value(g, g.node_index("p_conv"), 2, Tensor::zeros(DType::F32, {2}), "bias");
  EXPECT_EQ(g.node(g.node_index("p_conv")).input(2), "p_conv_bias");
}

}  // namespace
}  // namespace dpl::test
