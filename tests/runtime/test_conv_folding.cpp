// What an inference session folds into a float convolution beyond its followers: a zero Pad
// before it becomes its own padding (runtime/pad_folding.h), and a residual Add whose
// operand nothing reads afterwards is accumulated into that operand's buffer (oneDNN's sum
// post-op, ConvIo::add_in_place). Both must give what the unfused session gives, and must
// not happen where they would change a result: a Pad of another value, mode or axis, a Pad
// or an operand that something else still reads.
#include <gtest/gtest.h>

#include "core/tensor.h"
#include "graph/model_builder.h"
#include "runtime/session.h"
#include "tensor_compare.h"

namespace dpl::test {
namespace {

// Runs `g` fused and unfused (the default) on `x`; expects equal outputs and returns the
// fused session's plan as "op_type[+folded...][>absorbed...]" per node.
std::vector<std::string> fused_plan_matching_unfused(const OnnxGraph& g, const Tensor& x,
                                                     const std::vector<std::string>& outputs) {
  SessionOptions fused_opts;
  fused_opts.fuse = true;
  Session fused(g, fused_opts), unfused(g);
  const TensorMap want = unfused.run({{"x", x}});
  for (int rep = 0; rep < 2; ++rep) {
    const TensorMap got = fused.run({{"x", x}});
    for (const auto& o : outputs) {
      SCOPED_TRACE(o);
      expect_tensor_near(got.at(o), want.at(o), 1e-5, 1e-5);
    }
  }
  std::vector<std::string> plan;
  for (int i = 0; i < fused.node_count(); ++i) {
    std::string s = fused.node(i).op_type;
    for (const auto& f : fused.node(i).folded) s += "+" + f.op_type;
    for (const auto& f : fused.node(i).absorbed) s += ">" + f.op_type;
    plan.push_back(s);
  }
  return plan;
}

// x [1, 8, 13, 11] -> Pad (begin 1, 2 / end 2, 0 on H, W, plus `extra_pads` on N, C) ->
// Conv 3x3 stride 2 with its own pads 1 -> y.
OnnxGraph pad_conv(const std::string& mode, float value, int64_t channel_pad, const std::string& auto_pad = "NOTSET",
                   bool pad_is_output = false) {
  ModelBuilder b;
  b.input("x", {1, 8, 13, 11});
  b.init("pads", Tensor::from_vector<int64_t>({8}, {0, channel_pad, 1, 2, 0, 0, 2, 0}))
      .init("value", Tensor::scalar<float>(value))
      .init("w", random_tensor({16, 8 + channel_pad, 3, 3}, 3, -1.f, 1.f))
      .init("b", random_tensor({16}, 4, -1.f, 1.f));
  b.node("Pad", {"x", "pads", "value"}, {"p"}).attr("mode", mode);
  b.node("Conv", {"p", "w", "b"}, {"y"}).attr("strides", std::vector<int64_t>{2, 2}).attr("auto_pad", auto_pad);
  if (auto_pad == "NOTSET") b.attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"y"}, {"r"});
  b.output("r");
  if (pad_is_output) b.output("p");
  return b.graph();
}

TEST(ConvFolding, ZeroPadBecomesTheConvolutionsPadding) {
  const Tensor x = random_tensor({1, 8, 13, 11}, 1, -2.f, 2.f);
  EXPECT_EQ(fused_plan_matching_unfused(pad_conv("constant", 0.f, 0), x, {"r"}),
            (std::vector<std::string>{"Conv+Pad>Relu"}));
  EXPECT_EQ(fused_plan_matching_unfused(pad_conv("constant", 0.f, 0, "VALID"), x, {"r"}),
            (std::vector<std::string>{"Conv+Pad>Relu"}));
}

TEST(ConvFolding, PadThatIsNotZerosAroundTheImageStays) {
  const Tensor x = random_tensor({1, 8, 13, 11}, 1, -2.f, 2.f);
  const std::vector<std::string> kept{"Pad", "Conv>Relu"};
  EXPECT_EQ(fused_plan_matching_unfused(pad_conv("constant", 0.5f, 0), x, {"r"}), kept);
  EXPECT_EQ(fused_plan_matching_unfused(pad_conv("reflect", 0.f, 0), x, {"r"}), kept);
  EXPECT_EQ(fused_plan_matching_unfused(pad_conv("constant", 0.f, 2), x, {"r"}), kept);  // channels
  EXPECT_EQ(fused_plan_matching_unfused(pad_conv("constant", 0.f, 0, "SAME_UPPER"), x, {"r"}), kept);
  EXPECT_EQ(fused_plan_matching_unfused(pad_conv("constant", 0.f, 0, "NOTSET", true), x, {"r", "p"}), kept);
}

TEST(ConvFolding, NegativePadStays) {
  ModelBuilder b;
  b.input("x", {1, 4, 9, 9});
  b.init("pads", Tensor::from_vector<int64_t>({8}, {0, 0, 1, -1, 0, 0, 1, 1}))
      .init("w", random_tensor({4, 4, 3, 3}, 3, -1.f, 1.f));
  b.node("Pad", {"x", "pads"}, {"p"}).node("Conv", {"p", "w"}, {"y"});
  b.output("y");
  EXPECT_EQ(fused_plan_matching_unfused(b.graph(), random_tensor({1, 4, 9, 9}, 2, -1.f, 1.f), {"y"}),
            (std::vector<std::string>{"Pad", "Conv"}));
}

// x -> c1 -> a, x -> c0 -> s, c2(a) + s -> Relu -> y (3x3 layers: channels-last tensors
// throughout, so no conversion makes a copy of s): c2 absorbs the Add and Relu. With
// `operand_read_later`, a Mul reads s after them, so c2 must not write into it.
OnnxGraph residual(bool operand_read_later) {
  ModelBuilder b;
  b.input("x", {2, 16, 20, 24});
  b.init("w1", random_tensor({16, 16, 3, 3}, 5, -0.2f, 0.2f))
      .init("w2", random_tensor({16, 16, 3, 3}, 6, -0.2f, 0.2f))
      .init("w0", random_tensor({16, 16, 3, 3}, 7, -0.2f, 0.2f));
  const std::vector<int64_t> pads{1, 1, 1, 1};
  b.node("Conv", {"x", "w1"}, {"a"}).attr("pads", pads);
  b.node("Conv", {"x", "w0"}, {"s"}).attr("pads", pads);
  b.node("Conv", {"a", "w2"}, {"c"}).attr("pads", pads);
  b.node("Add", {"c", "s"}, {"sum"}).node("Relu", {"sum"}, {"y"});
  if (operand_read_later) {
    b.node("Mul", {"y", "s"}, {"z"});
    b.output("z");
  } else {
    b.output("y");
  }
  return b.graph();
}

// The post-ops the fused session's Conv with the residual Add applies in the library.
std::vector<std::string> residual_post_ops(bool operand_read_later) {
  const OnnxGraph g = residual(operand_read_later);
  const Tensor x = random_tensor({2, 16, 20, 24}, 8, -1.f, 1.f);
  fused_plan_matching_unfused(g, x, {operand_read_later ? "z" : "y"});
  SessionOptions fused_opts;
  fused_opts.fuse = true;
  Session s(g, fused_opts);
  s.run({{"x", x}});
  for (int i = 0; i < s.node_count(); ++i)
    if (!s.node(i).absorbed.empty() && s.node(i).absorbed[0].op_type == "Add") {
      const KernelInfo k = s.kernel_info(i);
      EXPECT_EQ(k.impl, k.impl_alone);  // the in-place form keeps the implementation
      return k.library_post_ops.empty() ? k.separate_post_ops : k.library_post_ops;
    }
  ADD_FAILURE() << "no convolution absorbed the Add";
  return {};
}

TEST(ConvFolding, ResidualAddAccumulatesIntoAnOperandNothingElseReads) {
  // Add then Relu: the Add as oneDNN's sum in place, or as a binary operand it only reads.
  EXPECT_EQ(residual_post_ops(false), (std::vector<std::string>{"sum", "eltwise_relu"}));
  EXPECT_EQ(residual_post_ops(true), (std::vector<std::string>{"binary_add", "eltwise_relu"}));
}

// On a 1x1 image the channels-last order is the plain one, and converting the residual
// operand (here the graph input itself) only reshapes it: the copy it seems to be must not
// take the output, or the caller's input would change.
TEST(ConvFolding, OperandThatAConversionOnlyReshapesIsNotWritten) {
  ModelBuilder b;
  b.input("x", {2, 4, 1, 1});
  b.init("w1", random_tensor({4, 4, 1, 1}, 5, -1.f, 1.f)).init("w2", random_tensor({4, 4, 1, 1}, 6, -1.f, 1.f));
  b.node("Conv", {"x", "w1"}, {"a"}).node("Conv", {"a", "w2"}, {"c"});
  b.node("Add", {"c", "x"}, {"s"}).node("Relu", {"s"}, {"y"});
  b.output("y");
  const Tensor x = random_tensor({2, 4, 1, 1}, 9, -1.f, 1.f);
  const Tensor x_before = x.clone();
  EXPECT_EQ(fused_plan_matching_unfused(b.graph(), x, {"y"}), (std::vector<std::string>{"Conv", "Conv>Add>Relu"}));
  expect_tensor_near(x, x_before, 0, 0);
}

}  // namespace
}  // namespace dpl::test
