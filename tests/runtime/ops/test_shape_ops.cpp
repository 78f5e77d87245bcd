// Shape and data-movement kernels: values worked out by hand, plus the strided copy engine
// (behind Slice, Transpose, Expand, Tile, DepthToSpace) against a naive reference on random
// views, single- and multi-threaded.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <limits>
#include <numeric>
#include <random>

#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "runtime/op_tester.h"
#include "runtime/ops/data_movement.h"
#include "runtime/parallel.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

std::vector<float> iota_f(int64_t n, float start = 0.f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// A small model with declared input shapes (OpTester declares the fed shape, so it cannot
// express "exported with batch 1, fed batch 4").
struct ModelBuilder {
  onnx::ModelProto m;
  ModelBuilder() {
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    m.mutable_graph()->set_name("g");
  }
  ModelBuilder& input(const std::string& name, DType t, const Shape& shape) {
    auto* vi = m.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(t));
    for (auto d : shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
    return *this;
  }
  ModelBuilder& init(const std::string& name, const Tensor& t) {
    *m.mutable_graph()->add_initializer() = tensor_to_proto(t, name);
    return *this;
  }
  ModelBuilder& node(const std::string& op, const std::vector<std::string>& ins, const std::string& out) {
    auto* n = m.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(out + "_node");
    for (auto& i : ins) n->add_input(i);
    n->add_output(out);
    return *this;
  }
  ModelBuilder& output(const std::string& name) {
    m.mutable_graph()->add_output()->set_name(name);
    return *this;
  }
  TensorMap run(const TensorMap& feeds) {
    OnnxGraph g = OnnxGraph::from_model(m);
    Session s(g);
    return s.run(feeds);
  }
};

// ---------------------------------------------------------------- Reshape batch rule

TEST(ReshapeBatchRule, LiteralBatchDimFollowsTheFedBatch) {
  // Exported with batch 1: X is [1, 2, 3] and the targets carry the literal 1.
  ModelBuilder b;
  b.input("X", DType::F32, {1, 2, 3})
      .init("s1", Tensor::from_vector<int64_t>({2}, {1, -1}))
      .init("s2", Tensor::from_vector<int64_t>({3}, {1, 3, 2}))
      .node("Reshape", {"X", "s1"}, "A")
      .node("Reshape", {"X", "s2"}, "B")
      .output("A")
      .output("B");
  Tensor x = Tensor::from_vector<float>({4, 2, 3}, iota_f(24));
  TensorMap got = b.run({{"X", x}});
  // Batch 4: [1, -1] -> [4, 6] (not [1, 24]); [1, 3, 2] -> [4, 3, 2].
  expect_tensor_near(got.at("A"), Tensor::from_vector<float>({4, 6}, iota_f(24)), 0, 0);
  expect_tensor_near(got.at("B"), Tensor::from_vector<float>({4, 3, 2}, iota_f(24)), 0, 0);
  EXPECT_TRUE(got.at("A").shares_buffer_with(x));
}

TEST(ReshapeBatchRule, KeepsTheTargetWhenScalingCannotMatch) {
  ModelBuilder b;
  // [1, 8, -1] on 24 elements: [4, 8, -1] does not divide, so the target stays as written.
  b.input("X", DType::F32, {1, 2, 3})
      .init("s", Tensor::from_vector<int64_t>({3}, {1, 8, -1}))
      .node("Reshape", {"X", "s"}, "Y")
      .output("Y");
  TensorMap got = b.run({{"X", Tensor::from_vector<float>({4, 2, 3}, iota_f(24))}});
  expect_tensor_near(got.at("Y"), Tensor::from_vector<float>({1, 8, 3}, iota_f(24)), 0, 0);
}

TEST(ReshapeBatchRule, OnlyWhenTheDataCarriesTheBatch) {
  ModelBuilder b;
  // Z's first dim (2) is not the fed batch (4): [1, -1] stays [1, 24].
  b.input("X", DType::F32, {1, 2, 3})
      .input("Z", DType::F32, {2, 12})
      .init("s", Tensor::from_vector<int64_t>({2}, {1, -1}))
      .node("Reshape", {"Z", "s"}, "Y")
      .node("Identity", {"X"}, "I")
      .output("Y")
      .output("I");
  TensorMap got = b.run({{"X", Tensor::from_vector<float>({4, 2, 3}, iota_f(24))},
                         {"Z", Tensor::from_vector<float>({2, 12}, iota_f(24))}});
  expect_tensor_near(got.at("Y"), Tensor::from_vector<float>({1, 24}, iota_f(24)), 0, 0);
}

TEST(ReshapeBatchRule, DeclaredBatchIsUntouched) {
  ModelBuilder b;
  b.input("X", DType::F32, {1, 2, 3})
      .init("s", Tensor::from_vector<int64_t>({2}, {1, -1}))
      .node("Reshape", {"X", "s"}, "Y")
      .output("Y");
  TensorMap got = b.run({{"X", Tensor::from_vector<float>({1, 2, 3}, iota_f(6))}});
  expect_tensor_near(got.at("Y"), Tensor::from_vector<float>({1, 6}, iota_f(6)), 0, 0);
}

// ---------------------------------------------------------------- Reshape family

TEST(Reshape, ZeroMinusOneAndAllowZero) {
  OpTester t("Reshape", 14);
  t.input<float>("X", {2, 3, 4}, iota_f(24)).input<int64_t>("S", {3}, {0, -1, 2}, true);
  t.output<float>("Y", {2, 6, 2}, iota_f(24));
  t.run();

  OpTester z("Reshape", 14);
  z.attr("allowzero", int64_t{1});
  z.input<float>("X", {0, 3}, {}).input<int64_t>("S", {2}, {3, 0}, true);
  z.output<float>("Y", {3, 0}, {});
  z.run();
}

TEST(Reshape, SharesTheInputBuffer) {
  ModelBuilder b;
  b.input("X", DType::F32, {2, 3})
      .init("s", Tensor::from_vector<int64_t>({1}, {6}))
      .init("ax", Tensor::from_vector<int64_t>({1}, {0}))
      .node("Reshape", {"X", "s"}, "R")
      .node("Flatten", {"X"}, "F")
      .node("Unsqueeze", {"X", "ax"}, "U")
      .node("Squeeze", {"U", "ax"}, "S")
      .output("R")
      .output("F")
      .output("U")
      .output("S");
  Tensor x = Tensor::from_vector<float>({2, 3}, iota_f(6));
  TensorMap got = b.run({{"X", x}});
  EXPECT_EQ(got.at("R").shape(), (Shape{6}));
  EXPECT_EQ(got.at("F").shape(), (Shape{2, 3}));
  EXPECT_EQ(got.at("U").shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(got.at("S").shape(), (Shape{2, 3}));
  for (const char* n : {"R", "F", "U", "S"}) EXPECT_TRUE(got.at(n).shares_buffer_with(x)) << n;
}

TEST(Flatten, NegativeAndZeroAxis) {
  OpTester t("Flatten");
  t.attr("axis", int64_t{-1}).input<float>("X", {2, 3, 2}, iota_f(12)).output<float>("Y", {6, 2}, iota_f(12));
  t.run();
  OpTester z("Flatten");
  z.attr("axis", int64_t{0}).input<float>("X", {2, 3}, iota_f(6)).output<float>("Y", {1, 6}, iota_f(6));
  z.run();
}

TEST(SqueezeUnsqueeze, AttributeFormBeforeOpset13) {
  OpTester s("Squeeze", 11);
  s.attr("axes", std::vector<int64_t>{-1, 0}).input<float>("X", {1, 3, 1}, {1, 2, 3}).output<float>("Y", {3}, {1, 2, 3});
  s.run();
  OpTester all("Squeeze", 13);
  all.input<float>("X", {1, 3, 1}, {1, 2, 3}).output<float>("Y", {3}, {1, 2, 3});
  all.run();
  OpTester empty("Squeeze", 13);
  empty.input<float>("X", {1, 3, 1}, {1, 2, 3}).input<int64_t>("A", {0}, {}, true).output<float>("Y", {3}, {1, 2, 3});
  empty.run();
  OpTester u("Unsqueeze", 11);
  u.attr("axes", std::vector<int64_t>{3, 0}).input<float>("X", {2, 3}, iota_f(6)).output<float>("Y", {1, 2, 3, 1}, iota_f(6));
  u.run();
  OpTester u13("Unsqueeze", 13);
  u13.input<float>("X", {2}, {5, 6}).input<int64_t>("A", {1}, {-1}, true).output<float>("Y", {2, 1}, {5, 6});
  u13.run();
}

TEST(Squeeze, RefusesANonUnitAxis) {
  OpTester s("Squeeze", 13);
  s.input<float>("X", {2, 1}, {1, 2}).input<int64_t>("A", {1}, {0}, true).output<float>("Y", {2}, {1, 2});
  EXPECT_THROW(s.run_outputs(), Error);
}

// ---------------------------------------------------------------- Slice

TEST(Slice, NegativeSteps) {
  // x = [[0,1,2,3],[4,5,6,7],[8,9,10,11]]; columns from the last going back by 2: 3, 1.
  OpTester t("Slice");
  t.input<float>("X", {3, 4}, iota_f(12))
      .input<int64_t>("starts", {1}, {-1}, true)
      .input<int64_t>("ends", {1}, {kI64Min}, true)
      .input<int64_t>("axes", {1}, {1}, true)
      .input<int64_t>("steps", {1}, {-2}, true);
  t.output<float>("Y", {3, 2}, {3, 1, 7, 5, 11, 9});
  t.run();

  // 1-D, 8 down to (not including) 1 by 3: 8, 5, 2.
  OpTester u("Slice");
  u.input<int64_t>("X", {10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
      .input<int64_t>("starts", {1}, {8})
      .input<int64_t>("ends", {1}, {1})
      .input<int64_t>("axes", {1}, {0})
      .input<int64_t>("steps", {1}, {-3});
  u.output<int64_t>("Y", {3}, {8, 5, 2});
  u.run();

  // Reverse both axes of a 2x3 uint8.
  OpTester v("Slice");
  v.input<uint8_t>("X", {2, 3}, {1, 2, 3, 4, 5, 6})
      .input<int64_t>("starts", {2}, {kI64Max, kI64Max}, true)
      .input<int64_t>("ends", {2}, {kI64Min, kI64Min}, true)
      .input<int64_t>("axes", {2}, {0, -1}, true)
      .input<int64_t>("steps", {2}, {-1, -1}, true);
  v.output<uint8_t>("Y", {2, 3}, {6, 5, 4, 3, 2, 1});
  v.run();
}

TEST(Slice, ClampsAndSentinels) {
  // Rows 1.. to the end, columns -3..-1 of a 3x4, steps omitted.
  OpTester t("Slice");
  t.input<float>("X", {3, 4}, iota_f(12))
      .input<int64_t>("starts", {2}, {1, -3}, true)
      .input<int64_t>("ends", {2}, {kI64Max, -1}, true);
  t.output<float>("Y", {2, 2}, {5, 6, 9, 10});
  t.run();
  // Start past the end: empty.
  OpTester e("Slice");
  e.input<float>("X", {3}, {1, 2, 3}).input<int64_t>("starts", {1}, {5}, true).input<int64_t>("ends", {1}, {10}, true);
  e.output<float>("Y", {0}, {});
  e.run();
}

TEST(Slice, AttributeFormBeforeOpset10) {
  OpTester t("Slice", 9);
  t.attr("starts", std::vector<int64_t>{0, 1}).attr("ends", std::vector<int64_t>{2, 1000}).attr("axes", std::vector<int64_t>{1, 0});
  t.input<float>("X", {3, 4}, iota_f(12));
  t.output<float>("Y", {2, 2}, {4, 5, 8, 9});
  t.run();
}

// ---------------------------------------------------------------- Pad

TEST(Pad, Reflect) {
  // [[1,2,3],[4,5,6]], pads: axis 1 two before and one after, axis 0 one after.
  OpTester t("Pad");
  t.attr("mode", std::string("reflect"));
  t.input<float>("X", {2, 3}, {1, 2, 3, 4, 5, 6}).input<int64_t>("pads", {4}, {0, 2, 1, 1}, true);
  t.output<float>("Y", {3, 6}, {3, 2, 1, 2, 3, 2,  //
                                6, 5, 4, 5, 6, 5,  //
                                3, 2, 1, 2, 3, 2});
  t.run();
}

TEST(Pad, EdgeConstantAndCrop) {
  OpTester e("Pad");
  e.attr("mode", std::string("edge"));
  e.input<int32_t>("X", {1, 3}, {7, 8, 9}).input<int64_t>("pads", {4}, {1, 1, 0, 2}, true);
  e.output<int32_t>("Y", {2, 6}, {7, 7, 8, 9, 9, 9, 7, 7, 8, 9, 9, 9});
  e.run();

  // Constant 5 before axis 1, crop one column after; constant value as an input.
  OpTester c("Pad");
  c.input<int64_t>("X", {2, 3}, {1, 2, 3, 4, 5, 6})
      .input<int64_t>("pads", {4}, {0, 1, 0, -1}, true)
      .input<int64_t>("v", {}, {5}, true);
  c.output<int64_t>("Y", {2, 3}, {5, 1, 2, 5, 4, 5});
  c.run();

  // Opset 2: pads and value are attributes.
  OpTester a("Pad", 2);
  a.attr("pads", std::vector<int64_t>{1, 0}).attr("value", 1.5f);
  a.input<float>("X", {2}, {3, 4}).output<float>("Y", {3}, {1.5f, 3, 4});
  a.run();
}

// ---------------------------------------------------------------- Gather

TEST(Gather, NegativeIndices) {
  OpTester t("Gather");
  t.attr("axis", int64_t{0});
  t.input<float>("X", {3, 2}, {1, 2, 3, 4, 5, 6}).input<int64_t>("I", {2}, {-1, 0}, true);
  t.output<float>("Y", {2, 2}, {5, 6, 1, 2});
  t.run();
  // axis 1 with [1, 1] int32 indices holding -1: the last column, shape [3, 1, 1].
  OpTester u("Gather");
  u.attr("axis", int64_t{-1});
  u.input<float>("X", {3, 2}, {1, 2, 3, 4, 5, 6}).input<int32_t>("I", {1, 1}, {-1}, true);
  u.output<float>("Y", {3, 1, 1}, {2, 4, 6});
  u.run();
  // Scalar index (Shape -> Gather): a scalar out.
  OpTester s("Gather");
  s.input<int64_t>("X", {3}, {10, 20, 30}).input<int64_t>("I", {}, {-2}, true);
  s.output<int64_t>("Y", {}, {20});
  s.run();
}

TEST(Gather, RefusesOutOfRange) {
  OpTester t("Gather");
  t.input<float>("X", {2}, {1, 2}).input<int64_t>("I", {1}, {2}, true).output<float>("Y", {1}, {0});
  EXPECT_THROW(t.run_outputs(), Error);
}

// ---------------------------------------------------------------- Transpose

TEST(Transpose, NchwToNhwc) {
  // x[n,c,h,w] = c*6 + h*3 + w with C=2, H=2, W=3; y[n,h,w,c] = x[n,c,h,w].
  OpTester t("Transpose");
  t.attr("perm", std::vector<int64_t>{0, 2, 3, 1});
  t.input<float>("X", {1, 2, 2, 3}, iota_f(12));
  t.output<float>("Y", {1, 2, 3, 2}, {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11});
  t.run();
  // And back.
  OpTester b("Transpose");
  b.attr("perm", std::vector<int64_t>{0, 3, 1, 2});
  b.input<float>("X", {1, 2, 3, 2}, {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11});
  b.output<float>("Y", {1, 2, 2, 3}, iota_f(12));
  b.run();
}

TEST(Transpose, DefaultReversesAndUnitMovesShare) {
  OpTester t("Transpose");
  t.input<int16_t>("X", {2, 3}, {1, 2, 3, 4, 5, 6}).output<int16_t>("Y", {3, 2}, {1, 4, 2, 5, 3, 6});
  t.run();
  Tensor x = Tensor::from_vector<float>({1, 3, 1, 2}, iota_f(6));
  Tensor y = ops::transpose_tensor(x, {2, 1, 3, 0});
  EXPECT_EQ(y.shape(), (Shape{1, 3, 2, 1}));
  EXPECT_TRUE(y.shares_buffer_with(x));
}

// ---------------------------------------------------------------- Concat / Split

TEST(Concat, MiddleAxisMixedSizes) {
  OpTester t("Concat");
  t.attr("axis", int64_t{-2});
  t.input<int64_t>("A", {2, 1, 2}, {1, 2, 3, 4}).input<int64_t>("B", {2, 2, 2}, {5, 6, 7, 8, 9, 10, 11, 12});
  t.input<int64_t>("C", {2, 0, 2}, {});
  t.output<int64_t>("Y", {2, 3, 2}, {1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12});
  t.run();
}

TEST(Split, InputAttributeAndEqualForms) {
  OpTester t("Split", 13);
  t.attr("axis", int64_t{1});
  t.input<float>("X", {2, 3}, iota_f(6)).input<int64_t>("split", {2}, {1, 2}, true);
  t.output<float>("A", {2, 1}, {0, 3}).output<float>("B", {2, 2}, {1, 2, 4, 5});
  t.run();
  OpTester a("Split", 11);
  a.attr("split", std::vector<int64_t>{2, 1});
  a.input<bool>("X", {3}, {true, false, true});
  a.output<bool>("A", {2}, {true, false}).output<bool>("B", {1}, {true});
  a.run();
  OpTester e("Split", 13);
  e.input<float>("X", {4}, iota_f(4));
  e.output<float>("A", {2}, {0, 1}).output<float>("B", {2}, {2, 3});
  e.run();
}

// ---------------------------------------------------------------- Shape / constants

TEST(ShapeOp, StartEndAndSize) {
  OpTester t("Shape", 15);
  t.attr("start", int64_t{1}).attr("end", int64_t{-1});
  t.input<float>("X", {2, 3, 4, 5}, std::vector<float>(120, 0.f)).output<int64_t>("Y", {2}, {3, 4});
  t.run();
  OpTester s("Size");
  s.input<float>("X", {2, 3}, std::vector<float>(6, 0.f)).output<int64_t>("Y", {}, {6});
  s.run();
}

TEST(Constants, ConstantOfShapeRangeAndConstant) {
  OpTester c("ConstantOfShape");
  c.input<int64_t>("S", {2}, {2, 2}, true).output<float>("Y", {2, 2}, {0, 0, 0, 0});
  c.run();

  OpTester r("Range");
  r.input<int32_t>("s", {}, {10}).input<int32_t>("l", {}, {3}).input<int32_t>("d", {}, {-3});
  r.output<int32_t>("Y", {3}, {10, 7, 4});
  r.run();
  OpTester rf("Range");
  rf.input<float>("s", {}, {1.f}).input<float>("l", {}, {2.f}).input<float>("d", {}, {0.25f});
  rf.output<float>("Y", {4}, {1.f, 1.25f, 1.5f, 1.75f});
  rf.run();

  OpTester k("Constant");
  k.attr("value_ints", std::vector<int64_t>{3, -1});
  k.output<int64_t>("Y", {2}, {3, -1});
  k.run();
  OpTester f("Constant");
  f.attr("value_float", 2.5f);
  f.output<float>("Y", {}, {2.5f});
  f.run();
}

TEST(Constants, ConstantOfShapeValueType) {
  ModelBuilder b;
  b.input("S", DType::I64, {2}).node("ConstantOfShape", {"S"}, "Y").output("Y");
  auto* a = b.m.mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = tensor_to_proto(Tensor::from_vector<int32_t>({1}, {7}), "value");
  TensorMap got = b.run({{"S", Tensor::from_vector<int64_t>({2}, {1, 3})}});
  expect_tensor_near(got.at("Y"), Tensor::from_vector<int32_t>({1, 3}, {7, 7, 7}), 0, 0);
}

// ---------------------------------------------------------------- Expand / Tile / DepthToSpace

TEST(ExpandTile, Values) {
  OpTester e("Expand");
  e.input<float>("X", {3, 1}, {1, 2, 3}).input<int64_t>("S", {3}, {2, 1, 2}, true);
  e.output<float>("Y", {2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  e.run();
  OpTester t("Tile");
  t.input<int8_t>("X", {2, 2}, {1, 2, 3, 4}).input<int64_t>("R", {2}, {2, 3}, true);
  t.output<int8_t>("Y", {4, 6}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  t.run();
}

TEST(DepthSpace, CrdDcrAndSpaceToDepth) {
  // C = 4, blocksize 2, H = W = 1: DCR puts channel (i*2 + j) at (i, j); CRD the same for
  // one output channel, so use C = 8 (two output channels) to tell them apart.
  std::vector<float> x = iota_f(8);
  OpTester d("DepthToSpace");
  d.attr("blocksize", int64_t{2}).attr("mode", std::string("DCR"));
  d.input<float>("X", {1, 8, 1, 1}, x);
  // DCR: out[c, i, j] = in[(i*2 + j)*2 + c]
  d.output<float>("Y", {1, 2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7});
  d.run();
  OpTester c("DepthToSpace");
  c.attr("blocksize", int64_t{2}).attr("mode", std::string("CRD"));
  c.input<float>("X", {1, 8, 1, 1}, x);
  // CRD: out[c, i, j] = in[c*4 + i*2 + j]
  c.output<float>("Y", {1, 2, 2, 2}, iota_f(8));
  c.run();
  // SpaceToDepth inverts DCR.
  OpTester s("SpaceToDepth");
  s.attr("blocksize", int64_t{2});
  s.input<float>("X", {1, 2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7});
  s.output<float>("Y", {1, 8, 1, 1}, x);
  s.run();
}

// ---------------------------------------------------------------- strided copy engine

// Naive reference: walks every output index.
template <typename T>
std::vector<T> naive_view(const std::vector<T>& src, int64_t base, const Shape& shape, const std::vector<int64_t>& st) {
  const int64_t n = shape_numel(shape);
  std::vector<T> out(n);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = base;
    for (size_t d = 0; d < shape.size(); ++d) off += idx[d] * st[d];
    out[i] = src[off];
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

template <typename T>
void check_random_transposes(int threads) {
  std::mt19937 rng(threads * 7 + sizeof(T));
  set_num_threads(threads);
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{2, 64, 40, 33}, {0, 2, 3, 1}},  // NCHW -> NHWC
      {{2, 40, 33, 64}, {0, 3, 1, 2}},  // NHWC -> NCHW
      {{300, 517}, {1, 0}},
      {{3, 4, 5, 6, 7}, {4, 2, 0, 3, 1}},
      {{8, 2, 16, 30, 30}, {0, 2, 1, 3, 4}},  // channel shuffle
      {{1, 2, 2, 3, 50, 50}, {0, 3, 4, 1, 5, 2}},  // DepthToSpace DCR
  };
  for (const auto& [shape, perm] : cases) {
    const int64_t n = shape_numel(shape);
    std::vector<T> v(n);
    for (auto& e : v) e = static_cast<T>(rng());
    Tensor x = Tensor::from_vector<T>(shape, v);
    Tensor y = ops::transpose_tensor(x, perm);
    const auto in_st = shape_strides(shape);
    Shape os;
    std::vector<int64_t> st;
    for (auto p : perm) {
      os.push_back(shape[p]);
      st.push_back(in_st[p]);
    }
    std::vector<T> want = naive_view(v, 0, os, st);
    ASSERT_EQ(y.shape(), os);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), y.data<T>())) << "shape " << shape_str(shape);
  }
  set_num_threads(1);
}

TEST(StridedCopy, TransposesMatchNaiveReference) {
  for (int threads : {1, 2}) {
    check_random_transposes<float>(threads);
    check_random_transposes<uint8_t>(threads);
    check_random_transposes<int64_t>(threads);
    check_random_transposes<int16_t>(threads);
  }
}

TEST(StridedCopy, SlicesAndBroadcastsMatchNaiveReference) {
  std::mt19937 rng(3);
  std::vector<float> v(40 * 50 * 60);
  for (auto& e : v) e = static_cast<float>(rng() % 1000);
  // (base, shape, strides) views of a [40, 50, 60] buffer.
  const std::vector<std::tuple<int64_t, Shape, std::vector<int64_t>>> views = {
      {0, {40, 25, 30}, {3000, 120, 2}},                  // stepped slice
      {39 * 3000 + 59, {40, 50, 60}, {-3000, 60, -1}},    // reversed axes 0 and 2
      {60 * 3, {40, 47, 60}, {3000, 60, 1}},              // contiguous rows
      {7, {40, 3, 50, 60}, {3000, 0, 60, 0}},             // broadcasts
      {0, {60, 40, 50}, {1, 3000, 60}},                   // transposed view
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const auto& [base, shape, st] : views) {
      std::vector<float> got(shape_numel(shape));
      ops::strided_copy(got.data(), v.data() + base, shape, st, sizeof(float));
      EXPECT_EQ(got, naive_view(v, base, shape, st)) << shape_str(shape);
    }
  }
  set_num_threads(1);
}

}  // namespace
}  // namespace dpl::test
