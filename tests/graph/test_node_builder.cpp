// graph/node_builder.h: a node in one expression, attributes through set_attr, and the test
// ModelBuilder built on it.
#include <gtest/gtest.h>

#include "graph/model_builder.h"
#include "graph/node_builder.h"

namespace dpl::test {
namespace {

TEST(NodeBuilder, FieldsInOneExpression) {
  onnx::NodeProto n = make_node("QuantizeLinear", {"x", "s", "zp"}, {"y"}, "q").attr("axis", 1);
  EXPECT_EQ(n.op_type(), "QuantizeLinear");
  EXPECT_EQ(n.name(), "q");
  ASSERT_EQ(n.input_size(), 3);
  EXPECT_EQ(n.input(2), "zp");
  ASSERT_EQ(n.output_size(), 1);
  EXPECT_EQ(n.output(0), "y");
  ASSERT_EQ(n.attribute_size(), 1);
  EXPECT_EQ(n.attribute(0).type(), onnx::AttributeProto::INT);
  EXPECT_EQ(attr_int(n, "axis", -1), 1);
  EXPECT_TRUE(n.domain().empty());
}

TEST(NodeBuilder, EmptyNameStaysUnset) {
  onnx::NodeProto n = make_node("Relu", {"x"}, {"y"});
  EXPECT_FALSE(n.has_name());
  EXPECT_TRUE(make_node("Relu", {"x"}, {"y"}, "r").node().has_name());
}

TEST(NodeBuilder, AttributesOfEveryTypeAndLastValueWins) {
  NodeBuilder b("Resize", {"x"}, {"y"});
  b.attr("mode", "nearest")
      .attr("coordinate_transformation_mode", std::string("asymmetric"))
      .attr("axes", std::vector<int64_t>{2, 3})
      .attr("scales", std::vector<float>{2.f, 2.f})
      .attr("cubic_coeff_a", -0.5f)
      .attr("mode", "linear");
  const onnx::NodeProto& n = b.node();
  EXPECT_EQ(n.attribute_size(), 5);
  EXPECT_EQ(attr_string(n, "mode"), "linear");
  EXPECT_EQ(attr_ints(n, "axes"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(find_attr(n, "scales")->floats_size(), 2);
  EXPECT_FLOAT_EQ(attr_float(n, "cubic_coeff_a", 0.f), -0.5f);
}

TEST(ModelBuilder, NodesComeFromTheNodeBuilder) {
  ModelBuilder mb;
  mb.input("x", {1, 4}).node("Softmax", {"x"}, {"y"}, "sm").attr("axis", int64_t{-1}).output("y");
  mb.node("Relu", {"y"}, {"z"});
  const auto& nodes = mb.model().graph().node();
  ASSERT_EQ(nodes.size(), 2);
  onnx::NodeProto expected = make_node("Softmax", {"x"}, {"y"}, "sm").attr("axis", int64_t{-1});
  EXPECT_EQ(nodes[0].SerializeAsString(), expected.SerializeAsString());
  EXPECT_FALSE(nodes[1].has_name());
}

}  // namespace
}  // namespace dpl::test
