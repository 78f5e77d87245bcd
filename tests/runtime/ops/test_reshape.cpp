// Reshape, Flatten, Squeeze and Unsqueeze (src/runtime/ops/reshape.cpp): the batch rule for
// literal batch dims, 0 / -1 / allowzero, buffer sharing, and the pre-opset-13 attribute forms.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

TEST(ReshapeBatchRule, LiteralBatchDimFollowsTheFedBatch) {
  // Exported with batch 1: X is [1, 2, 3] and the targets carry the literal 1.
  DeclaredShapeModel b;
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
  DeclaredShapeModel b;
  // [1, 8, -1] on 24 elements: [4, 8, -1] does not divide, so the target stays as written.
  b.input("X", DType::F32, {1, 2, 3})
      .init("s", Tensor::from_vector<int64_t>({3}, {1, 8, -1}))
      .node("Reshape", {"X", "s"}, "Y")
      .output("Y");
  TensorMap got = b.run({{"X", Tensor::from_vector<float>({4, 2, 3}, iota_f(24))}});
  expect_tensor_near(got.at("Y"), Tensor::from_vector<float>({1, 8, 3}, iota_f(24)), 0, 0);
}

TEST(ReshapeBatchRule, OnlyWhenTheDataCarriesTheBatch) {
  DeclaredShapeModel b;
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
  DeclaredShapeModel b;
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
  DeclaredShapeModel b;
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

}  // namespace
}  // namespace dpl::test
