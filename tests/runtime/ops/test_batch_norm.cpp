// BatchNormalization (src/runtime/ops/batch_norm.cpp): values by hand with initializer and
// fed parameters, training mode, and the fusion of a following activation into the kernel.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

TEST(BatchNormalization, ValuesByHand) {
  // c0: (x - 2) / sqrt(4) * 2 + 1 = x - 1;  c1: (x - 1) / sqrt(9) * 0.5.
  for (bool constant : {true, false}) {
    SCOPED_TRACE(constant ? "initializer parameters" : "fed parameters");
    OpTester t("BatchNormalization", 15);
    t.attr("epsilon", 0.f);
    t.input<float>("X", {1, 2, 1, 2}, {1, 3, -2, 4});
    t.input<float>("scale", {2}, {2, 0.5f}, constant);
    t.input<float>("B", {2}, {1, 0}, constant);
    t.input<float>("mean", {2}, {2, 1}, constant);
    t.input<float>("var", {2}, {4, 9}, constant);
    t.output<float>("Y", {1, 2, 1, 2}, {0, 2, -0.5f, 0.5f});
    t.run();
  }
}

// BatchNormalization followed by an activation, run with and without session fusion: the
// fused plan has one node and the same result as BN then the activation kernel.
void check_bn_fusion(const std::string& act, const std::vector<float>& want) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("bn_act");
  auto* x = g->add_input();
  x->set_name("X");
  auto* tt = x->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(1);
  for (int64_t d : {1, 2, 1, 3}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  auto init = [&](const std::string& name, std::vector<float> v) {
    *g->add_initializer() = tensor_to_proto(Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v), name);
  };
  init("s", {1, 2});
  init("b", {0, -1});
  init("m", {0, 0});
  init("v", {1, 1});
  auto* bn = g->add_node();
  bn->set_op_type("BatchNormalization");
  bn->set_name("bn");
  for (const char* i : {"X", "s", "b", "m", "v"}) bn->add_input(i);
  bn->add_output("t");
  auto* a = bn->add_attribute();
  a->set_name("epsilon");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(0.f);
  if (act == "Swish") {
    auto* sg = g->add_node();
    sg->set_op_type("Sigmoid");
    sg->set_name("sig");
    sg->add_input("t");
    sg->add_output("u");
    auto* mul = g->add_node();
    mul->set_op_type("Mul");
    mul->set_name("mul");
    mul->add_input("t");
    mul->add_input("u");
    mul->add_output("Y");
  } else {
    auto* f = g->add_node();
    f->set_op_type(act);
    f->set_name("act");
    f->add_input("t");
    if (act == "Clip") {
      init("lo", {-0.5f});
      f->add_input("lo");
      f->add_input("");  // no upper bound
    }
    if (act == "LeakyRelu") {
      auto* al = f->add_attribute();
      al->set_name("alpha");
      al->set_type(onnx::AttributeProto::FLOAT);
      al->set_f(0.5f);
    }
    f->add_output("Y");
  }
  g->add_output()->set_name("Y");
  OnnxGraph graph = OnnxGraph::from_model(m);
  TensorMap feeds = {{"X", Tensor::from_vector<float>({1, 2, 1, 3}, {-2, 0.5f, 3, -2, 0.25f, 1})}};
  SessionOptions fused;
  fused.fuse = true;
  Session sf(graph, fused), su(graph);
  EXPECT_EQ(sf.node_count(), 1);
  const Tensor yf = sf.run(feeds).at("Y"), yu = su.run(feeds).at("Y");
  expect_tensor_near(yf, yu, 1e-6, 1e-6);
  expect_tensor_near(yf, Tensor::from_vector<float>({1, 2, 1, 3}, want), 1e-6, 1e-6);
}

TEST(BatchNormalization, AbsorbsFollowingActivation) {
  // BN: channel 0 y = x, channel 1 y = 2x - 1 -> [-2, 0.5, 3, -5, -0.5, 1].
  {
    SCOPED_TRACE("Relu");
    check_bn_fusion("Relu", {0, 0.5f, 3, 0, 0, 1});
  }
  {
    SCOPED_TRACE("Clip");
    check_bn_fusion("Clip", {-0.5f, 0.5f, 3, -0.5f, -0.5f, 1});
  }
  {
    SCOPED_TRACE("LeakyRelu");
    check_bn_fusion("LeakyRelu", {-1, 0.5f, 3, -2.5f, -0.25f, 1});
  }
  {
    SCOPED_TRACE("Swish");
    auto silu = [](float v) { return v / (1.f + std::exp(-v)); };
    check_bn_fusion("Swish", {silu(-2), silu(0.5f), silu(3), silu(-5), silu(-0.5f), silu(1)});
  }
}

TEST(BatchNormalization, TrainingModeUsesBatchStatistics) {
  // One channel, batch values 1 and 3: mean 2, population variance 1.
  OpTester t("BatchNormalization", 15);
  t.attr("epsilon", 0.f).attr("momentum", 0.5f).attr("training_mode", int64_t{1});
  t.input<float>("X", {2, 1, 1}, {1, 3});
  t.input<float>("scale", {1}, {1});
  t.input<float>("B", {1}, {0});
  t.input<float>("mean", {1}, {0});
  t.input<float>("var", {1}, {3});
  t.output<float>("Y", {2, 1, 1}, {-1, 1});
  t.output<float>("running_mean", {1}, {1});  // 0 * 0.5 + 2 * 0.5
  t.output<float>("running_var", {1}, {2});   // 3 * 0.5 + 1 * 0.5
  t.run();
}

}  // namespace
}  // namespace dpl::test
