// The simplifier on small hand-built graphs: every simplified model must compute what the
// original computes (run both through the runtime), and the folding must really happen.
#include <gtest/gtest.h>

#include <map>

#include "graph/model_builder.h"
#include "optimizer/simplifier.h"
#include "runtime/session.h"
#include "tensor_compare.h"
#include "util/error.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

std::map<std::string, int> op_counts(const OnnxGraph& g) {
  std::map<std::string, int> r;
  for (const auto& n : g.graph().node()) r[n.op_type()]++;
  return r;
}

// Runs both graphs on the same feeds; every graph output must match.
void expect_same_outputs(const OnnxGraph& a, const OnnxGraph& b, const TensorMap& feeds) {
  Session sa(a), sb(b);
  ASSERT_EQ(sa.output_names(), sb.output_names());
  TensorMap ra = sa.run(feeds), rb = sb.run(feeds);
  for (const auto& name : sa.output_names()) {
    SCOPED_TRACE("output " + name);
    expect_tensor_near(rb.at(name), ra.at(name), 1e-6, 1e-7);
  }
}

// x [N,3,H,W] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) -> Relu -> y:
// the shape computation exporters write for a flatten that keeps the batch.
ModelBuilder shape_chain(const Shape& x_shape, int64_t dim = 0) {
  ModelBuilder b;
  b.input("x", x_shape)
      .init("zero", Tensor::scalar<int64_t>(dim))
      .init("minus_one", Tensor::from_vector<int64_t>({1}, {-1}))
      .init("axes0", Tensor::from_vector<int64_t>({1}, {0}))
      .node("Shape", {"x"}, {"shape"})
      .node("Gather", {"shape", "zero"}, {"batch"})
      .attr("axis", int64_t{0})
      .node("Unsqueeze", {"batch", "axes0"}, {"batch1"})
      .node("Concat", {"batch1", "minus_one"}, {"target"})
      .attr("axis", int64_t{0})
      .node("Reshape", {"x", "target"}, {"flat"})
      .node("Relu", {"flat"}, {"y"})
      .output("y");
  return b;
}

TEST(Simplifier, FoldsShapeChainOfStaticInput) {
  OnnxGraph orig = shape_chain({2, 3, 4, 4}).graph();
  prepare_model(orig, 13, false);
  OnnxGraph g = orig.copy();
  SimplifyOptions o;
  o.symbolic_batch = false;  // fold the declared batch too
  SimplifyStats st = simplify(g, o);
  auto ops = op_counts(g);
  EXPECT_EQ(ops, (std::map<std::string, int>{{"Reshape", 1}, {"Relu", 1}})) << st.summary();
  EXPECT_GE(st.shapes_folded, 1);  // Shape (and Gather of it)
  EXPECT_GE(st.folded, 2);         // Unsqueeze, Concat
  // The Reshape target is a constant now, and the helper constants are gone.
  const auto& reshape = g.node(g.producer("flat"));
  ASSERT_TRUE(g.is_initializer(reshape.input(1)));
  EXPECT_EQ(g.get_initializer(reshape.input(1)).to_i64_vector(), (std::vector<int64_t>{2, -1}));
  EXPECT_FALSE(g.is_initializer("zero"));
  EXPECT_FALSE(g.is_initializer("axes0"));
  EXPECT_EQ(g.graph().initializer_size(), 1);
  expect_same_outputs(orig, g, {{"x", random_tensor({2, 3, 4, 4}, 11, -1.f, 1.f)}});
}

TEST(Simplifier, BatchStaysSymbolicByDefault) {
  // The declared batch (2) is not baked into the Reshape: the model still runs at batch 5.
  OnnxGraph orig = shape_chain({2, 3, 4, 4}).graph();
  prepare_model(orig, 13, false);
  OnnxGraph g = orig.copy();
  SimplifyStats st = simplify(g);
  EXPECT_EQ(g.node_count(), 6) << st.summary();
  EXPECT_EQ(g.tensor_shape("x"), (Shape{2, 3, 4, 4}));  // the declared shape is kept
  EXPECT_EQ(g.tensor_shape("shape"), (Shape{4}));       // and shapes are inferred from it
  expect_same_outputs(orig, g, {{"x", random_tensor({5, 3, 4, 4}, 21, -1.f, 1.f)}});
  // Other dimensions still fold: reading dim 1 gives Reshape(x, [3, -1]).
  OnnxGraph c_orig = shape_chain({2, 3, 4, 4}, 1).graph();
  prepare_model(c_orig, 13, false);
  OnnxGraph c = c_orig.copy();
  st = simplify(c);
  EXPECT_EQ(op_counts(c), (std::map<std::string, int>{{"Reshape", 1}, {"Relu", 1}})) << st.summary();
  expect_same_outputs(c_orig, c, {{"x", random_tensor({2, 3, 4, 4}, 22, -1.f, 1.f)}});
  // A batch given explicitly folds.
  SimplifyOptions o;
  o.input_shapes["x"] = {2, -1, -1, -1};
  OnnxGraph fixed = orig.copy();
  st = simplify(fixed, o);
  EXPECT_EQ(op_counts(fixed), (std::map<std::string, int>{{"Reshape", 1}, {"Relu", 1}})) << st.summary();
}

TEST(Simplifier, SymbolicInputFoldsOnlyWithFixedShape) {
  OnnxGraph orig = shape_chain({-1, 3, -1, -1}).graph();
  prepare_model(orig, 13, false);
  // Without a shape nothing can fold.
  OnnxGraph dyn = orig.copy();
  SimplifyStats st = simplify(dyn);
  EXPECT_EQ(dyn.node_count(), 6) << st.summary();
  EXPECT_EQ(st.shapes_folded, 0);
  Tensor x = random_tensor({3, 3, 2, 5}, 12, -1.f, 1.f);
  expect_same_outputs(orig, dyn, {{"x", x}});
  // With the input shape fixed the chain folds away.
  SimplifyOptions o;
  o.input_shapes["x"] = {3, 3, 2, 5};
  OnnxGraph fixed = orig.copy();
  st = simplify(fixed, o);
  EXPECT_EQ(op_counts(fixed), (std::map<std::string, int>{{"Reshape", 1}, {"Relu", 1}})) << st.summary();
  EXPECT_EQ(fixed.tensor_shape("x"), (Shape{3, 3, 2, 5}));
  expect_same_outputs(orig, fixed, {{"x", x}});
  // Only some dims fixed (-1 keeps the declared one): the batch is enough here (Gather
  // reads dim 0).
  o.input_shapes["x"] = {3, -1, -1, -1};
  OnnxGraph part = orig.copy();
  st = simplify(part, o);
  EXPECT_EQ(part.tensor_shape("x"), (Shape{3, 3, -1, -1}));
  EXPECT_EQ(op_counts(part), (std::map<std::string, int>{{"Reshape", 1}, {"Relu", 1}})) << st.summary();
  expect_same_outputs(orig, part, {{"x", x}});
  // A wrong rank or name is refused.
  o.input_shapes["x"] = {3, 3};
  OnnxGraph bad = orig.copy();
  EXPECT_THROW(simplify(bad, o), Error);
  o.input_shapes.clear();
  o.input_shapes["nope"] = {1};
  EXPECT_THROW(simplify(bad, o), Error);
}

TEST(Simplifier, ConstantOfShapeWeightBecomesInitializer) {
  // The weights of ONNX's "light" models are made inside the graph like this.
  Tensor value = Tensor::from_vector<float>({1}, {0.25f});
  ModelBuilder b;
  b.input("x", {1, 3, 5, 5})
      .init("wshape", Tensor::from_vector<int64_t>({4}, {4, 3, 3, 3}))
      .init("bshape", Tensor::from_vector<int64_t>({1}, {4}))
      .node("ConstantOfShape", {"wshape"}, {"w"})
      .attr("value", value)
      .node("ConstantOfShape", {"bshape"}, {"bias"})
      .attr("value", Tensor::from_vector<float>({1}, {-0.5f}))
      .node("Conv", {"x", "w", "bias"}, {"y"})
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
      .output("y");
  OnnxGraph orig = b.graph();
  prepare_model(orig, 13, false);
  OnnxGraph g = orig.copy();
  SimplifyStats st = simplify(g);
  EXPECT_EQ(op_counts(g), (std::map<std::string, int>{{"Conv", 1}})) << st.summary();
  ASSERT_TRUE(g.is_initializer("w"));
  ASSERT_TRUE(g.is_initializer("bias"));
  Tensor w = g.get_initializer("w");
  EXPECT_EQ(w.shape(), (Shape{4, 3, 3, 3}));
  for (float v : w.to_f32_vector()) ASSERT_EQ(v, 0.25f);
  EXPECT_EQ(g.get_initializer("bias").to_f32_vector(), (std::vector<float>(4, -0.5f)));
  EXPECT_FALSE(g.is_initializer("wshape"));
  // Independent check of one output: the centre pixel sees 27 inputs.
  Tensor x = random_tensor({1, 3, 5, 5}, 13);
  TensorMap out = Session(g).run({{"x", x}});
  double s = -0.5;
  auto xv = x.to_f32_vector();
  for (int c = 0; c < 3; ++c)
    for (int i = 1; i <= 3; ++i)
      for (int j = 1; j <= 3; ++j) s += 0.25 * xv[c * 25 + i * 5 + j];
  EXPECT_NEAR(out.at("y").to_f32_vector()[2 * 5 + 2], s, 1e-5);
  expect_same_outputs(orig, g, {{"x", x}});
  // With a size limit the weight (432 bytes) stays computed in the graph, the bias folds.
  SimplifyOptions o;
  o.max_folded_bytes = 64;
  OnnxGraph limited = orig.copy();
  simplify(limited, o);
  EXPECT_EQ(op_counts(limited), (std::map<std::string, int>{{"ConstantOfShape", 1}, {"Conv", 1}}));
  EXPECT_TRUE(limited.is_initializer("bias"));
}

TEST(Simplifier, RemovesIdentityAndDropoutKeepingOutputNames) {
  ModelBuilder b;
  b.input("x", {2, 4})
      .node("Identity", {"x"}, {"i1"})
      .node("Relu", {"i1"}, {"r"})
      .node("Dropout", {"r"}, {"d", "mask"})
      .node("Identity", {"d"}, {"i2"})
      .node("Neg", {"i2"}, {"n"})
      .node("Identity", {"n"}, {"y"})  // a graph output: Neg must produce "y" itself
      .node("Identity", {"x"}, {"passthrough"})  // input straight to output: must stay
      .output("y")
      .output("passthrough");
  OnnxGraph orig = b.graph();
  prepare_model(orig, 13, false);
  OnnxGraph g = orig.copy();
  SimplifyStats st = simplify(g);
  EXPECT_EQ(op_counts(g), (std::map<std::string, int>{{"Relu", 1}, {"Neg", 1}, {"Identity", 1}})) << st.summary();
  EXPECT_EQ(st.identities_removed, 4);
  EXPECT_EQ(g.network_outputs(), (std::vector<std::string>{"y", "passthrough"}));
  ASSERT_GE(g.producer("y"), 0);
  EXPECT_EQ(g.node(g.producer("y")).op_type(), "Neg");
  EXPECT_EQ(g.node(g.producer("r")).input(0), "x");
  expect_same_outputs(orig, g, {{"x", random_tensor({2, 4}, 14, -1.f, 1.f)}});
}

TEST(Simplifier, DropoutInTrainingModeOrWithUsedMaskStays) {
  ModelBuilder b;
  b.input("x", {2, 4})
      .init("train", Tensor::scalar<bool>(true))
      .init("ratio", Tensor::scalar<float>(0.5f))
      .node("Dropout", {"x", "ratio", "train"}, {"d"})
      .node("Dropout", {"d"}, {"e", "mask"})
      .node("Cast", {"mask"}, {"maskf"})
      .attr("to", int64_t{1})
      .node("Add", {"e", "maskf"}, {"y"})
      .output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  SimplifyStats st = simplify(g);
  EXPECT_EQ(op_counts(g)["Dropout"], 2) << st.summary();
}

TEST(Simplifier, RemovesDeadNodesAndUnusedInitializers) {
  ModelBuilder b;
  b.input("x", {2})
      .input("unused_input", {2})
      .init("w", Tensor::from_vector<float>({2}, {1.f, 2.f}))
      .init("dead_w", Tensor::from_vector<float>({2}, {3.f, 4.f}))
      .init("never_read", Tensor::from_vector<float>({1}, {5.f}))
      .node("Mul", {"x", "w"}, {"y"})
      .node("Mul", {"x", "dead_w"}, {"dead1"})
      .node("Relu", {"dead1"}, {"dead2"})
      .output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  SimplifyStats st = simplify(g);
  EXPECT_EQ(g.node_count(), 1) << st.summary();
  EXPECT_EQ(st.dead_removed, 2);
  EXPECT_TRUE(g.is_initializer("w"));
  EXPECT_FALSE(g.is_initializer("dead_w"));
  EXPECT_FALSE(g.is_initializer("never_read"));
  // Graph inputs are the model's interface: they stay even when unused.
  EXPECT_EQ(g.network_inputs(), (std::vector<std::string>{"x", "unused_input"}));
}

TEST(Simplifier, InitializerInputsOfOldModelsStopBeingInputs) {
  // IR 3 lists initializers among the graph inputs.
  ModelBuilder b(8, 3);
  b.input("x", {2}).input("w", {2}).init("w", Tensor::from_vector<float>({2}, {1.f, 2.f}));
  b.node("Add", {"x", "w"}, {"y"}).output("y");
  OnnxGraph g = b.graph();
  prepare_model(g);  // converts to opset 13 (IR 7) and simplifies
  EXPECT_EQ(g.model().ir_version(), 7);
  EXPECT_EQ(g.graph().input_size(), 1);
  EXPECT_EQ(g.network_inputs(), std::vector<std::string>{"x"});
  EXPECT_TRUE(g.is_initializer("w"));
}

TEST(Simplifier, UnsupportedOperatorOrRefusingKernelIsLeftInPlace) {
  ModelBuilder b;
  b.input("x", {2})
      .init("c", Tensor::from_vector<float>({2}, {1.f, 2.f}))
      .init("bad_shape", Tensor::from_vector<int64_t>({2}, {3, 5}))
      .node("DplNoSuchOperator", {"c"}, {"u"})
      .node("Reshape", {"c", "bad_shape"}, {"r"})  // 2 elements cannot become 3x5
      .node("Add", {"x", "u"}, {"a"})
      .node("Add", {"a", "r"}, {"y"})
      .output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  SimplifyOptions o;
  o.check = false;  // the unknown operator would fail the checker
  SimplifyStats st = simplify(g, o);
  auto ops = op_counts(g);
  EXPECT_EQ(ops["DplNoSuchOperator"], 1);
  EXPECT_EQ(ops["Reshape"], 1);
  EXPECT_EQ(st.folded, 0);
  bool unsupported = false, refused = false;
  for (const auto& [k, v] : st.not_folded) {
    unsupported = unsupported || k.find("DplNoSuchOperator") != std::string::npos;
    refused = refused || k.rfind("Reshape", 0) == 0;
  }
  EXPECT_TRUE(unsupported) << st.summary();
  EXPECT_TRUE(refused) << st.summary();
}

TEST(Simplifier, QuantizeNodesAreNotFolded) {
  ModelBuilder b;
  b.input("x", {4})
      .init("wq", Tensor::from_vector<int8_t>({4}, {1, -2, 3, -4}))
      .init("scale", Tensor::scalar<float>(0.5f))
      .init("zp", Tensor::scalar<int8_t>(0))
      .node("DequantizeLinear", {"wq", "scale", "zp"}, {"w"})
      .node("Mul", {"x", "w"}, {"y"})
      .output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  simplify(g);
  EXPECT_EQ(op_counts(g)["DequantizeLinear"], 1);
}

TEST(Simplifier, SoftmaxOfUnknownRankCollapsesOnceShapesAreKnown) {
  // Opset 9, rank unknown at conversion: Flatten -> Softmax -> Reshape(Shape(x)). Once the
  // input shape is fixed the pair goes when the axis was the last one.
  ModelBuilder b(9, 4);
  b.input("x", {}, DType::F32, false).node("Softmax", {"x"}, {"y"}).attr("axis", int64_t{2}).output("y");
  OnnxGraph orig = b.graph();
  prepare_model(orig, 13, false);
  EXPECT_EQ(op_counts(orig)["Flatten"], 1);
  SimplifyOptions o;
  o.input_shapes["x"] = {2, 4, 5};
  OnnxGraph g = orig.copy();
  SimplifyStats st = simplify(g, o);
  EXPECT_EQ(op_counts(g), (std::map<std::string, int>{{"Softmax", 1}})) << st.summary();
  EXPECT_EQ(st.softmax_collapsed, 1);
  EXPECT_EQ(g.network_outputs(), std::vector<std::string>{"y"});
  expect_same_outputs(orig, g, {{"x", random_tensor({2, 4, 5}, 15, -2.f, 2.f)}});
  // Over a middle axis the Flatten/Reshape must stay (they are the semantics)...
  o.input_shapes["x"] = {2, 4, 5, 3};
  OnnxGraph mid = orig.copy();
  st = simplify(mid, o);
  EXPECT_EQ(op_counts(mid)["Flatten"], 1) << st.summary();
  expect_same_outputs(orig, mid, {{"x", random_tensor({2, 4, 5, 3}, 16, -2.f, 2.f)}});
  // ... unless the other flattened dims are 1: then it is the operator over one axis.
  o.input_shapes["x"] = {2, 4, 5, 1};
  OnnxGraph trailing_one = orig.copy();
  st = simplify(trailing_one, o);
  ASSERT_EQ(op_counts(trailing_one), (std::map<std::string, int>{{"Softmax", 1}})) << st.summary();
  EXPECT_EQ(trailing_one.node(0).attribute(0).i(), 2);
  expect_same_outputs(orig, trailing_one, {{"x", random_tensor({2, 4, 5, 1}, 17, -2.f, 2.f)}});
  o.input_shapes["x"] = {2, 4, 1, 5};
  OnnxGraph leading_one = orig.copy();
  st = simplify(leading_one, o);
  ASSERT_EQ(op_counts(leading_one), (std::map<std::string, int>{{"Softmax", 1}})) << st.summary();
  EXPECT_EQ(leading_one.node(0).attribute(0).i(), -1);
  expect_same_outputs(orig, leading_one, {{"x", random_tensor({2, 4, 1, 5}, 18, -2.f, 2.f)}});
}

TEST(Simplifier, FoldedNodeFeedingAGraphOutputStays) {
  ModelBuilder b;
  b.input("x", {2})
      .init("c", Tensor::from_vector<float>({2}, {-1.f, 2.f}))
      .node("Relu", {"c"}, {"rc"})
      .node("Add", {"x", "rc"}, {"y"})
      .output("y")
      .output("rc");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  simplify(g);
  EXPECT_EQ(g.network_outputs(), (std::vector<std::string>{"y", "rc"}));
  EXPECT_GE(g.producer("rc"), 0);
}

TEST(Simplifier, PrepareNamesAndChecksTheResult) {
  OnnxGraph g = shape_chain({2, 3, 4, 4}, 2).graph();
  prepare_model(g);
  for (const auto& n : g.graph().node()) EXPECT_FALSE(n.name().empty());
  EXPECT_EQ(g.node_count(), 2);
  // A model that fails the checker after simplification although it passed before would be
  // our bug; one that failed before only warns (here: an unknown operator).
  ModelBuilder b;
  b.input("x", {2}).node("DplNoSuchOperator", {"x"}, {"y"}).output("y");
  OnnxGraph bad = b.graph();
  EXPECT_NO_THROW(prepare_model(bad));
}

}  // namespace
}  // namespace dpl::test
