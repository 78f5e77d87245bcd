// Regions (graph/region.h) on a hand-built graph: which tensors are its inputs, outputs and
// initializers; an extracted region run on its own gives the full model's values; a region
// written back unchanged leaves the model as it was, and a rewritten one changes exactly
// its part.
#include <gtest/gtest.h>

#include <algorithm>

#include "graph/model_builder.h"
#include "graph/region.h"
#include "optimizer/prepare.h"
#include "runtime/session.h"
#include "tensor_compare.h"
#include "util/error.h"

namespace dpl::test {
namespace {

using Names = std::vector<std::string>;

void conv(ModelBuilder& b, const std::string& name, const std::string& in, const std::string& w,
          const std::string& out) {
  b.node("Conv", {in, w}, {out}, name).attr("kernel_shape", std::vector<int64_t>{1, 1});
}

// x -> convA -> a -> reluA -> ra -> convC -> c, x -> convB -> bb, then
// add(c, bb) -> s -> convD -> y. convB and convD share the weight wS.
OnnxGraph branchy() {
  ModelBuilder b(13);
  b.input("x", {1, 2, 3, 3});
  b.init("wA", random_tensor({2, 2, 1, 1}, 1, -1.f, 1.f))
      .init("wC", random_tensor({2, 2, 1, 1}, 2, -1.f, 1.f))
      .init("wS", random_tensor({2, 2, 1, 1}, 3, -1.f, 1.f));
  conv(b, "convA", "x", "wA", "a");
  b.node("Relu", {"a"}, {"ra"}, "reluA");
  conv(b, "convB", "x", "wS", "bb");
  conv(b, "convC", "ra", "wC", "c");
  b.node("Add", {"c", "bb"}, {"s"}, "add");
  conv(b, "convD", "s", "wS", "y");
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

std::vector<int> indices(const OnnxGraph& g, const Names& names) {
  std::vector<int> r;
  for (const auto& n : names) r.push_back(g.node_index(n));
  return r;
}

Names node_names(const OnnxGraph& g, const std::vector<int>& nodes) {
  Names r;
  for (int i : nodes) r.push_back(g.node(i).name());
  return r;
}

TensorMap run(const OnnxGraph& g, const TensorMap& feeds, const Names& fetch) {
  Session s(g);
  TensorMap r;
  for (auto& [name, t] : s.run(feeds, fetch)) r[name] = t.clone();
  return r;
}

const TensorMap kSample = {{"x", random_tensor({1, 2, 3, 3}, 9, -1.f, 1.f)}};

TEST(Region, BoundaryOfANodeSet) {
  const OnnxGraph g = branchy();
  // Given out of order: kept in graph order.
  const Region r(g, indices(g, {"convC", "reluA"}));
  EXPECT_EQ(node_names(g, r.nodes()), (Names{"reluA", "convC"}));
  EXPECT_EQ(r.inputs(), Names{"a"});
  EXPECT_EQ(r.initializers(), Names{"wC"});
  EXPECT_EQ(r.outputs(), Names{"c"});  // ra is only read inside
  EXPECT_TRUE(r.contains(g.node_index("reluA")));
  EXPECT_FALSE(r.contains(g.node_index("convA")));

  // Two inputs; an output read outside (s) and a graph output (y).
  const Region tail(g, indices(g, {"add", "convD", "convC"}));
  EXPECT_EQ(tail.inputs(), (Names{"ra", "bb"}));
  EXPECT_EQ(tail.initializers(), (Names{"wC", "wS"}));
  EXPECT_EQ(tail.outputs(), Names{"y"});
  const Region head(g, indices(g, {"convA", "reluA", "convB"}));
  EXPECT_EQ(head.inputs(), Names{"x"});
  EXPECT_EQ(head.outputs(), (Names{"ra", "bb"}));
}

TEST(Region, ChosenOutputs) {
  const OnnxGraph g = branchy();
  const Region r(g, indices(g, {"convA", "reluA"}), {"a", "ra"});
  EXPECT_EQ(r.outputs(), (Names{"a", "ra"}));
  EXPECT_THROW(Region(g, indices(g, {"convA"}), {"ra"}), Error);
}

TEST(Region, UpToHoldsTheAncestorsOfItsTargets) {
  const OnnxGraph g = branchy();
  const Region r = Region::up_to(g, {"c"});
  EXPECT_EQ(node_names(g, r.nodes()), (Names{"convA", "reluA", "convC"}));
  EXPECT_EQ(r.inputs(), Names{"x"});
  EXPECT_EQ(r.outputs(), Names{"c"});
  // A graph input as a target passes straight through.
  const Region in = Region::up_to(g, {"x"});
  EXPECT_TRUE(in.nodes().empty());
  EXPECT_EQ(in.inputs(), Names{"x"});
  EXPECT_EQ(in.outputs(), Names{"x"});
  EXPECT_THROW(Region::up_to(g, {"wA"}), Error);
}

TEST(Region, ExtractedRegionComputesWhatTheModelComputes) {
  const OnnxGraph g = branchy();
  const TensorMap full = run(g, kSample, {"ra", "bb", "s", "y"});
  const Region r(g, indices(g, {"convC", "add"}));
  const OnnxGraph sub = r.extract();
  EXPECT_EQ(sub.network_inputs(), (Names{"ra", "bb"}));
  EXPECT_EQ(sub.network_outputs(), Names{"s"});
  EXPECT_EQ(sub.node_count(), 2);
  EXPECT_TRUE(sub.is_initializer("wC"));
  EXPECT_FALSE(sub.is_initializer("wA"));
  EXPECT_FALSE(sub.tensor_shape("ra").has_value()) << "inputs carry a type, no shape";
  const TensorMap got = run(sub, {{"ra", full.at("ra")}, {"bb", full.at("bb")}}, {"s"});
  expect_tensor_near(got.at("s"), full.at("s"), 0, 0);
  // A batch of two goes through the same region (no declared batch).
  Tensor two = Tensor::concat_rows({full.at("ra"), full.at("ra")});
  Tensor bb2 = Tensor::concat_rows({full.at("bb"), full.at("bb")});
  EXPECT_EQ(run(sub, {{"ra", two}, {"bb", bb2}}, {"s"}).at("s").dim(0), 2);
}

TEST(Region, ExtractWithTheModelsInputs) {
  const OnnxGraph g = branchy();
  Region::ExtractOptions o;
  o.model_inputs = true;
  const OnnxGraph sub = Region::up_to(g, {"c"}).extract(o);
  EXPECT_EQ(sub.network_inputs(), Names{"x"});
  EXPECT_EQ(sub.tensor_shape("x").value_or(Shape{}), (Shape{1, 2, 3, 3}));
  EXPECT_EQ(sub.network_outputs(), Names{"c"});
  EXPECT_FALSE(sub.is_initializer("wS"));
  expect_tensor_near(run(sub, kSample, {"c"}).at("c"), run(g, kSample, {"c"}).at("c"), 0, 0);
}

TEST(Region, SubgraphReadsAreInputs) {
  // An If whose branch reads the outer tensor `k` and the outer initializer `w`.
  ModelBuilder b(13);
  b.input("cond", {}, DType::Bool).input("k", {2});
  b.init("w", random_tensor({2}, 4));
  b.node("If", {"cond"}, {"out"}, "if");
  onnx::GraphProto branch;
  branch.set_name("then");
  auto* n = branch.add_node();
  n->set_op_type("Add");
  n->add_input("k");
  n->add_input("w");
  n->add_output("sum");
  branch.add_output()->set_name("sum");
  auto* a = b.model().mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("then_branch");
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = branch;
  a = b.model().mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("else_branch");
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = branch;
  b.output("out");
  const OnnxGraph g = b.graph();
  const Region r(g, {0});
  EXPECT_EQ(r.inputs(), (Names{"cond", "k"}));
  EXPECT_EQ(r.initializers(), Names{"w"});
  const OnnxGraph sub = r.extract();
  EXPECT_TRUE(sub.is_initializer("w"));
  EXPECT_EQ(sub.network_inputs(), (Names{"cond", "k"}));
}

TEST(Region, ReplaceWithTheExtractedRegionChangesNothing) {
  OnnxGraph g = branchy();
  const OnnxGraph before = g.copy();
  const Region r(g, indices(g, {"reluA", "convC", "add"}));
  r.replace(g, r.extract());
  EXPECT_EQ(g.node_count(), before.node_count());
  for (int i = 0; i < g.node_count(); ++i) EXPECT_EQ(g.node(i).SerializeAsString(), before.node(i).SerializeAsString());
  EXPECT_EQ(g.graph().initializer_size(), before.graph().initializer_size());
  expect_tensor_near(run(g, kSample, {"y"}).at("y"), run(before, kSample, {"y"}).at("y"), 0, 0);
}

TEST(Region, ReplaceSplicesARewrittenRegion) {
  OnnxGraph g = branchy();
  const TensorMap want = run(g, kSample, {"c", "bb"});
  const Region r(g, indices(g, {"convC"}));
  OnnxGraph sub = r.extract();
  // Twice the weight (c doubles exactly), read through a new node placed first.
  Tensor w2 = sub.get_initializer("wC").clone();
  for (int64_t i = 0; i < w2.numel(); ++i) w2.data<float>()[i] *= 2.f;
  sub.del_initializer("wC");
  sub.set_initializer("wC2", w2);
  onnx::NodeProto id;
  id.set_op_type("Identity");
  id.set_name("copy_w");
  id.add_input("wC2");
  id.add_output("wC2_copy");
  sub.mutable_node(0).set_input(1, "wC2_copy");
  sub.insert_node(id, 0);
  r.replace(g, sub);

  EXPECT_TRUE(g.has_node("copy_w"));
  EXPECT_LT(g.node_index("copy_w"), g.node_index("convC"));
  EXPECT_FALSE(g.is_initializer("wC")) << "only the old node read it";
  EXPECT_TRUE(g.is_initializer("wC2"));
  const TensorMap got = run(g, kSample, {"c", "bb"});
  Tensor c2 = want.at("c").clone();
  for (int64_t i = 0; i < c2.numel(); ++i) c2.data<float>()[i] *= 2.f;
  expect_tensor_near(got.at("c"), c2, 0, 0);
  expect_tensor_near(got.at("bb"), want.at("bb"), 0, 0);
}

TEST(Region, ReplaceRefusesWhatWouldBreakTheModel) {
  OnnxGraph g = branchy();
  const Region r(g, indices(g, {"convD"}));
  // An output missing.
  OnnxGraph sub = r.extract();
  sub.mutable_node(0).set_output(0, "other");
  sub.update_maps();
  EXPECT_THROW(r.replace(g, sub), Error);
  // A change to the weight convB shares.
  sub = r.extract();
  sub.set_initializer("wS", Tensor::zeros(DType::F32, {2, 2, 1, 1}));
  EXPECT_THROW(r.replace(g, sub), Error);
  // Not the graph the region was made from.
  OnnxGraph other = g.copy();
  EXPECT_THROW(r.replace(other, r.extract()), Error);
}

}  // namespace
}  // namespace dpl::test
