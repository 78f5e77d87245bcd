// Constant, ConstantOfShape and Range (src/runtime/ops/constant.cpp).
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

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
  DeclaredShapeModel b;
  b.input("S", DType::I64, {2}).node("ConstantOfShape", {"S"}, "Y").output("Y");
  auto* a = b.m.mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = tensor_to_proto(Tensor::from_vector<int32_t>({1}, {7}), "value");
  TensorMap got = b.run({{"S", Tensor::from_vector<int64_t>({2}, {1, 3})}});
  expect_tensor_near(got.at("Y"), Tensor::from_vector<int32_t>({1, 3}, {7, 7, 7}), 0, 0);
}

}  // namespace
}  // namespace dpl::test
