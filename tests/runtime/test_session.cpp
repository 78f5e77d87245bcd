// Session behaviour with test-only kernels, so these tests do not depend on the real
// operator set: hooks, freeing, run_range on cached inputs, the missing-operator message,
// and the fusion plan.
#include <gtest/gtest.h>

#include <cmath>

#include "graph/onnx_graph.h"
#include "runtime/op_registry.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

// y = x * scale (attribute); absorbs a following TestAddOne and a following TestAdd whose
// other operand is ready, to exercise the fusion plan.
class TestScale : public Op {
 public:
  void init(const NodeDesc& n) override {
    scale_ = n.attrs.get_float("scale", 1.f);
    absorbed_ = n.absorbed;
    own_ = n.own_inputs;
  }
  bool can_absorb(const NodeDesc&, const NodeDesc& f, bool ready) const override {
    return f.op_type == "TestAddOne" || (f.op_type == "TestAdd" && ready);
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    Tensor y(DType::F32, in[0]->shape());
    size_t extra = own_;
    for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = in[0]->data<float>()[i] * scale_;
    for (const auto& f : absorbed_) {
      if (f.op_type == "TestAddOne")
        for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] += 1.f;
      if (f.op_type == "TestAdd") {
        const Tensor* o = in[extra++];
        for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] += o->data<float>()[i];
      }
    }
    out[0] = y;
  }

 private:
  float scale_ = 1.f;
  std::vector<NodeDesc> absorbed_;
  size_t own_ = 1;
};

class TestAddOne : public Op {
 public:
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    Tensor y(DType::F32, in[0]->shape());
    for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = in[0]->data<float>()[i] + 1.f;
    out[0] = y;
  }
};

class TestAdd : public Op {
 public:
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    Tensor y(DType::F32, in[0]->shape());
    for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = in[0]->data<float>()[i] + in[1]->data<float>()[i];
    out[0] = y;
  }
};

DPL_REGISTER_OP("TestScale", TestScale);
DPL_REGISTER_OP("TestAddOne", TestAddOne);
DPL_REGISTER_OP("TestAdd", TestAdd);

void add_node(onnx::GraphProto* g, const std::string& type, std::vector<std::string> in, std::string out,
              float scale = 0.f) {
  auto* n = g->add_node();
  n->set_op_type(type);
  n->set_name(out + "_node");
  for (auto& i : in) n->add_input(i);
  n->add_output(out);
  if (scale != 0.f) {
    auto* a = n->add_attribute();
    a->set_name("scale");
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(scale);
  }
}

// x -> s1 = 2x -> a = s1 + 1 -> s2 = 3a -> r = s2 + <residual> -> out, residual "s1" or "x"
OnnxGraph make_graph(const std::string& residual = "s1") {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(1);
  tt->mutable_shape()->add_dim()->set_dim_value(1);
  tt->mutable_shape()->add_dim()->set_dim_value(3);
  add_node(g, "TestScale", {"x"}, "s1", 2.f);
  add_node(g, "TestAddOne", {"s1"}, "a");
  add_node(g, "TestScale", {"a"}, "s2", 3.f);
  add_node(g, "TestAdd", {"s2", residual}, "r");
  g->add_output()->set_name("r");
  return OnnxGraph::from_model(m);
}

Tensor input() { return Tensor::from_vector<float>({1, 3}, {1.f, -2.f, 0.5f}); }

std::vector<float> expected(const std::string& residual = "s1") {
  std::vector<float> r;
  for (float x : {1.f, -2.f, 0.5f}) r.push_back(3.f * (2.f * x + 1.f) + (residual == "s1" ? 2.f * x : x));
  return r;
}

TEST(Session, RunsGraphAndCallsHookForEveryTensorInOrder) {
  Session s(make_graph());
  std::vector<std::string> seen;
  s.set_hook([&](const std::string& name, const Tensor&) { seen.push_back(name); });
  TensorMap out = s.run({{"x", input()}});
  EXPECT_EQ(seen, (std::vector<std::string>{"x", "s1", "a", "s2", "r"}));
  EXPECT_EQ(out.at("r").to_f32_vector(), expected());
}

TEST(Session, FreedIntermediatesCannotBeFetchedButKeptOnesCan) {
  Session s(make_graph());
  TensorMap out = s.run({{"x", input()}}, {"r", "a"});
  EXPECT_EQ(out.size(), 2u);
  SessionOptions keep_all;
  keep_all.keep_all = true;
  Session k(make_graph(), keep_all);
  TensorMap all = k.run({{"x", input()}});
  EXPECT_TRUE(all.count("s1") && all.count("a") && all.count("s2"));
}

TEST(Session, RunRangeOnCachedInputsMatchesFullRun) {
  Session s(make_graph());
  TensorMap mid = s.run({{"x", input()}}, {"s1", "a"});
  // Nodes 2..3 (s2, r) read a and s1 only.
  TensorMap tail = s.run_range(2, 4, {{"a", mid.at("a")}, {"s1", mid.at("s1")}}, {"r"});
  EXPECT_EQ(tail.at("r").to_f32_vector(), expected());
  EXPECT_THROW(s.run_range(2, 4, {{"a", mid.at("a")}}, {"r"}), Error);
}

TEST(Session, FusionAbsorbsFollowersAndKeepsResults) {
  SessionOptions o;
  o.fuse = true;
  Session s(make_graph("x"), o);
  // s1 absorbs AddOne; s2 absorbs the Add whose other operand (x) is already there.
  EXPECT_EQ(s.node_count(), 2);
  EXPECT_EQ(s.run({{"x", input()}}).at("r").to_f32_vector(), expected("x"));
}

TEST(Session, FusionLeavesATensorWithSeveralConsumers) {
  SessionOptions o;
  o.fuse = true;
  Session s(make_graph("s1"), o);
  // s1 also feeds the residual Add, so it cannot absorb AddOne; s2 still absorbs the Add.
  EXPECT_EQ(s.node_count(), 3);
  EXPECT_EQ(s.run({{"x", input()}}).at("r").to_f32_vector(), expected("s1"));
}

TEST(Session, FusionStopsAtGraphOutputs) {
  SessionOptions o;
  o.fuse = true;
  OnnxGraph g = make_graph("x");
  g.add_network_output("s1");
  Session s(g, o);
  EXPECT_EQ(s.node_count(), 3);  // "s1" must stay visible, so its node cannot absorb AddOne
  TensorMap out = s.run({{"x", input()}});
  EXPECT_EQ(out.at("r").to_f32_vector(), expected("x"));
  EXPECT_EQ(out.at("s1").to_f32_vector(), (std::vector<float>{2.f, -4.f, 1.f}));
}

TEST(Session, FusionStopsAtKeptTensors) {
  SessionOptions o;
  o.fuse = true;
  o.keep = {"s1"};
  Session s(make_graph("x"), o);
  EXPECT_EQ(s.node_count(), 3);  // "s1" is kept, so its node cannot absorb AddOne
  TensorMap out = s.run({{"x", input()}}, {"r", "s1"});
  EXPECT_EQ(out.at("r").to_f32_vector(), expected("x"));
  EXPECT_EQ(out.at("s1").to_f32_vector(), (std::vector<float>{2.f, -4.f, 1.f}));
}

// x -> Sigmoid -> s, y = x * s: the SiLU pattern.
OnnxGraph silu_graph() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(1);
  tt->mutable_shape()->add_dim()->set_dim_value(1);
  tt->mutable_shape()->add_dim()->set_dim_value(3);
  add_node(g, "Sigmoid", {"x"}, "s");
  add_node(g, "Mul", {"x", "s"}, "y");
  g->add_output()->set_name("y");
  return OnnxGraph::from_model(m);
}

// SiLU written as x * Sigmoid(x) (YOLOX) runs as one fused Sigmoid node.
TEST(Session, FusedSiluMatchesTwoPassResult) {
  SessionOptions o;
  o.fuse = true;
  Session fused(silu_graph(), o);
  EXPECT_EQ(fused.node_count(), 1);
  std::vector<float> got = fused.run({{"x", input()}}).at("y").to_f32_vector();
  const float xs[] = {1.f, -2.f, 0.5f};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], xs[i] / (1.f + std::exp(-xs[i])), 1e-6f);
}

TEST(Session, FusionLeavesSiluWhoseSigmoidIsAGraphOutput) {
  SessionOptions o;
  o.fuse = true;
  OnnxGraph g = silu_graph();
  g.add_network_output("s");
  Session s(g, o);
  EXPECT_EQ(s.node_count(), 2);
  TensorMap out = s.run({{"x", input()}});
  const float xs[] = {1.f, -2.f, 0.5f};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(out.at("y").to_f32_vector()[i], xs[i] / (1.f + std::exp(-xs[i])), 1e-6f);
}

TEST(Session, RejectsModelListingEveryMissingOperator) {
  OnnxGraph g = make_graph();
  g.mutable_node(1).set_op_type("NoSuchOpA");
  g.mutable_node(2).set_op_type("NoSuchOpB");
  try {
    Session s(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("NoSuchOpA"), std::string::npos) << m;
    EXPECT_NE(m.find("NoSuchOpB"), std::string::npos) << m;
  }
}

TEST(Session, WrongInputShapeIsAClearError) {
  Session s(make_graph());
  try {
    s.run({{"x", Tensor::from_vector<float>({1, 4}, {1, 2, 3, 4})}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'x'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dpl::test
