// Session::run_forward / run_backward (runtime/session_train.cpp, docs/training.md): the
// gradients of a whole region against central differences of L = sum(dL/dy * y) taken in
// double, on conv -> relu -> add(residual) -> conv and on a block cut out of YOLOX-Nano
// (graph/region.h; skipped visibly without ../shared); the hook; and the refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "graph/node_builder.h"
#include "graph/region.h"
#include "graph/tensor_proto.h"
#include "ops/grad_test_util.h"
#include "optimizer/prepare.h"
#include "runtime/session.h"
#include "shared_models.h"

namespace dpl::test {
namespace {

Tensor random_tensor(const Shape& s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  return Tensor::from_vector<float>(s, grad_values(shape_numel(s), seed, lo, hi));
}

// x [1,4,6,6] -> Conv(W1,B1) pad 1 -> Relu -> Add(x) -> Conv(W2) stride 2 -> y, plus a
// side branch Floor(x) -> z that no gradient needs. W1 is fed, W2 and B1 are initializers.
OnnxGraph residual_block() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("block");
  *g->add_node() = make_node("Conv", {"x", "W1", "B1"}, {"c1"}, "conv1").attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  *g->add_node() = make_node("Relu", {"c1"}, {"r1"}, "relu1");
  *g->add_node() = make_node("Add", {"r1", "x"}, {"a1"}, "add1");
  *g->add_node() = make_node("Conv", {"a1", "W2"}, {"y"}, "conv2").attr("strides", std::vector<int64_t>{2, 2});
  *g->add_node() = make_node("Floor", {"x"}, {"z"}, "floor");
  auto input = [&](const std::string& name, const Shape& s) {
    auto* vi = g->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (auto d : s) tt->mutable_shape()->add_dim()->set_dim_value(d);
  };
  input("x", {1, 4, 6, 6});
  input("W1", {4, 4, 3, 3});
  *g->add_initializer() = tensor_to_proto(random_tensor({4}, 3), "B1");
  *g->add_initializer() = tensor_to_proto(random_tensor({3, 4, 3, 3}, 4), "W2");
  for (const char* o : {"y", "z"}) g->add_output()->set_name(o);
  return OnnxGraph::from_model(m);
}

// L = sum(dy * y) over the fetched tensors, in double.
double loss(const TensorMap& out, const TensorMap& dy) {
  double l = 0;
  for (const auto& [name, g] : dy) {
    const Tensor& y = out.at(name);
    for (int64_t i = 0; i < y.numel(); ++i) l += double(g.data<float>()[i]) * double(y.data<float>()[i]);
  }
  return l;
}

// Central difference of L with respect to element j of `name`, which is either fed
// (perturbed in the feeds) or an initializer (perturbed in a copy of the graph: kernels
// pack constant weights when they are built).
double central_difference(const OnnxGraph& g, const TensorMap& feeds, const std::vector<std::string>& fetch,
                          const TensorMap& dy, const std::string& name, int64_t j, double step) {
  double l[2];
  for (int k = 0; k < 2; ++k) {
    const float sign = k == 0 ? 1.f : -1.f;
    TensorMap f = feeds;
    OnnxGraph gv = g;
    if (feeds.count(name)) {
      f[name] = feeds.at(name).clone();
      f[name].data<float>()[j] += sign * static_cast<float>(step);
    } else {
      Tensor w = g.get_initializer(name).clone();
      w.data<float>()[j] += sign * static_cast<float>(step);
      gv.set_initializer(name, w);
    }
    Session s(gv);
    l[k] = loss(s.run_range(0, s.node_count(), f, fetch), dy);
  }
  return (l[0] - l[1]) / (2 * step);
}

// Checks up to `per_tensor` elements of each trainable's gradient (all when it has fewer).
void expect_gradients_match(const OnnxGraph& g, const TensorMap& feeds, const std::vector<std::string>& fetch,
                            const TensorMap& dy, const TensorMap& grads, int64_t per_tensor, double step = 1e-2,
                            double rtol = 1e-2, double atol = 2e-3) {
  std::mt19937 rng(11);
  for (const auto& [name, gr] : grads) {
    SCOPED_TRACE(name);
    const int64_t n = gr.numel();
    for (int64_t c = 0; c < std::min(n, per_tensor); ++c) {
      const int64_t j = n <= per_tensor ? c : static_cast<int64_t>(rng() % n);
      const double want = central_difference(g, feeds, fetch, dy, name, j, step);
      const double got = gr.data<float>()[j];
      EXPECT_NEAR(got, want, atol + rtol * std::max(std::fabs(got), std::fabs(want))) << name << "[" << j << "]";
    }
  }
}

TEST(SessionBackward, ResidualBlockMatchesCentralDifferences) {
  OnnxGraph g = residual_block();
  Session s(g);
  // The step (1e-3) is small against the spread of conv1's outputs, so no difference
  // straddles the Relu's kink for these seeds; a crossing would show as one far-off element.
  const TensorMap feeds = {{"x", random_tensor({1, 4, 6, 6}, 1)}, {"W1", random_tensor({4, 4, 3, 3}, 2)}};
  const std::set<std::string> trainable = {"x", "W1", "B1", "W2"};
  Tape tape;
  TensorMap out = s.run_forward(0, s.node_count(), feeds, {"y"}, trainable, tape);
  ASSERT_TRUE(tape.recorded());
  const TensorMap dy = {{"y", random_tensor(out.at("y").shape(), 9)}};
  std::map<std::string, int> hooked;
  TensorMap grads = s.run_backward(tape, dy, [&](const std::string& name, Tensor& g) {
    hooked[name]++;
    EXPECT_EQ(g.dtype(), DType::F32);
  });
  ASSERT_EQ(grads.size(), 4u);
  for (const auto& t : trainable) EXPECT_EQ(hooked[t], 1) << t;
  EXPECT_EQ(grads.at("W2").shape(), (Shape{3, 4, 3, 3}));
  expect_gradients_match(g, feeds, {"y"}, dy, grads, 200, 1e-3);
  EXPECT_FALSE(tape.recorded());  // spent
  EXPECT_THROW(s.run_backward(tape, dy), Error);
}

TEST(SessionBackward, HookChangesWhatIsReturned) {
  OnnxGraph g = residual_block();
  Session s(g);
  const TensorMap feeds = {{"x", random_tensor({1, 4, 6, 6}, 1)}, {"W1", random_tensor({4, 4, 3, 3}, 2)}};
  Tape tape;
  TensorMap out = s.run_forward(0, s.node_count(), feeds, {"y"}, {"W2"}, tape);
  const TensorMap dy = {{"y", random_tensor(out.at("y").shape(), 9)}};
  Tape tape2;
  s.run_forward(0, s.node_count(), feeds, {"y"}, {"W2"}, tape2);
  const Tensor plain = s.run_backward(tape2, dy).at("W2");
  // An all-reduce over two identical workers doubles the gradient in place.
  TensorMap grads = s.run_backward(tape, dy, [](const std::string&, Tensor& g) {
    for (int64_t i = 0; i < g.numel(); ++i) g.data<float>()[i] *= 2.f;
  });
  for (int64_t i = 0; i < plain.numel(); ++i) EXPECT_EQ(grads.at("W2").data<float>()[i], 2.f * plain.data<float>()[i]);
}

TEST(SessionBackward, UnusedTrainableGetsZeros) {
  OnnxGraph g = residual_block();
  Session s(g);
  const TensorMap feeds = {{"x", random_tensor({1, 4, 6, 6}, 1)}, {"W1", random_tensor({4, 4, 3, 3}, 2)}};
  Tape tape;
  // The only gradient given is z's, and z (Floor of x) does not depend on W2.
  TensorMap out = s.run_forward(0, s.node_count(), feeds, {"y", "z"}, {"W2"}, tape);
  TensorMap grads = s.run_backward(tape, {{"z", random_tensor(out.at("z").shape(), 4)}});
  const Tensor& w = grads.at("W2");
  for (int64_t i = 0; i < w.numel(); ++i) ASSERT_EQ(w.data<float>()[i], 0.f);
}

TEST(SessionBackward, NodeWithoutBackwardOnThePathIsNamed) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  *g->add_node() = make_node("Floor", {"x"}, {"f"}, "the_floor");
  *g->add_node() = make_node("Relu", {"f"}, {"y"}, "relu");
  auto* vi = g->add_input();
  vi->set_name("x");
  vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  g->add_output()->set_name("y");
  OnnxGraph og = OnnxGraph::from_model(m);
  Session s(og);
  Tape tape;
  const TensorMap feeds = {{"x", random_tensor({3}, 1)}};
  try {
    s.run_forward(0, 2, feeds, {"y"}, {"x"}, tape);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'the_floor' (Floor) has no backward pass"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(tape.recorded());
  EXPECT_THROW(s.run_forward(0, 2, feeds, {"y"}, {"f"}, tape), Error);        // produced inside the range
  EXPECT_THROW(s.run_forward(0, 2, feeds, {"y"}, {"nowhere"}, tape), Error);  // not a tensor
}

TEST(SessionBackward, ShapeComputationsNeedNoBackward) {
  // y = x * 2 + ConstantOfShape(Shape(x * 2)): the zeros depend on x's shape only, so
  // ConstantOfShape (no backward pass) is off the gradient's path, and dL/dx = 2 dL/dy.
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  *g->add_initializer() = tensor_to_proto(Tensor::scalar<float>(2.f), "two");
  *g->add_node() = make_node("Mul", {"x", "two"}, {"d"}, "double");
  *g->add_node() = make_node("Shape", {"d"}, {"s"}, "shape");
  *g->add_node() = make_node("ConstantOfShape", {"s"}, {"z"}, "zeros");
  *g->add_node() = make_node("Add", {"d", "z"}, {"y"}, "add");
  auto* vi = g->add_input();
  vi->set_name("x");
  vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  g->add_output()->set_name("y");
  OnnxGraph og = OnnxGraph::from_model(m);
  Session s(og);
  Tape tape;
  const Tensor x = random_tensor({2, 3}, 1);
  s.run_forward(0, 4, {{"x", x}}, {"y"}, {"x"}, tape);
  const Tensor dy = random_tensor({2, 3}, 2);
  const TensorMap grads = s.run_backward(tape, {{"y", dy}});
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_FLOAT_EQ(grads.at("x").data<float>()[i], 2 * dy.data<float>()[i]);
}

TEST(SessionBackward, FusedConvIsRefusedByName) {
  OnnxGraph g = residual_block();
  SessionOptions o;
  o.fuse = true;
  Session s(g, o);
  const TensorMap feeds = {{"x", random_tensor({1, 4, 6, 6}, 1)}, {"W1", random_tensor({4, 4, 3, 3}, 2)}};
  Tape tape;
  try {
    s.run_forward(0, s.node_count(), feeds, {"y"}, {"W1"}, tape);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'conv1' (Conv with fused Relu)"), std::string::npos) << e.what();
  }
}

// A block of YOLOX-Nano: the nodes before its last residual Add (SiLU as Sigmoid * x, Conv,
// Add, and whatever the export put there), cut out with graph/region.h and differentiated
// with respect to its inputs and its convolution weights.
TEST(SessionBackward, YoloxNanoBlockMatchesCentralDifferences) {
  const auto path = kSharedModels / "yolox-nano" / "yolox_nano.onnx";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared model not present: " << path;
  OnnxGraph g = OnnxGraph::load(path.string());
  prepare_model(g);
  int add = -1;
  for (int i = 0; i < g.graph().node_size(); ++i) {
    const auto& n = g.graph().node(i);
    if (n.op_type() == "Add" && g.producer(n.input(0)) >= 0 && g.producer(n.input(1)) >= 0) add = i;
  }
  ASSERT_GE(add, 12);
  std::vector<int> nodes;
  for (int i = add - 12; i <= add; ++i) nodes.push_back(i);
  Region region(g, nodes);
  OnnxGraph block = region.extract();
  Session s(block);
  TensorMap feeds;
  std::set<std::string> trainable;
  for (const auto& in : region.inputs()) {
    const auto shape = g.tensor_shape(in);
    ASSERT_TRUE(shape.has_value()) << in;
    feeds[in] = random_tensor(*shape, 1 + static_cast<uint32_t>(feeds.size()), -2.f, 2.f);
    trainable.insert(in);
  }
  std::vector<std::string> ops;
  for (int i : nodes) ops.push_back(g.graph().node(i).op_type());
  for (const auto& w : region.initializers())
    if (block.get_initializer(w).rank() == 4) trainable.insert(w);
  SCOPED_TRACE("ops: " + fmt::format("{}", fmt::join(ops, " ")));
  Tape tape;
  const std::vector<std::string> fetch = region.outputs();
  TensorMap out = s.run_forward(0, s.node_count(), feeds, fetch, trainable, tape);
  TensorMap dy;
  for (const auto& o : fetch) dy[o] = random_tensor(out.at(o).shape(), 40 + static_cast<uint32_t>(dy.size()));
  TensorMap grads = s.run_backward(tape, dy);
  ASSERT_EQ(grads.size(), trainable.size());
  std::cout << "YOLOX-Nano block of " << nodes.size() << " nodes (" << fmt::format("{}", fmt::join(ops, " "))
            << "), " << trainable.size() << " trainable tensors\n";
  expect_gradients_match(block, feeds, fetch, dy, grads, 6, 1e-2, 2e-2, 1e-2);
}

}  // namespace
}  // namespace dpl::test
