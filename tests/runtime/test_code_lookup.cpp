// Code lookup (runtime/fusion.h, kCodeLookupOp): in a fused session a per-tensor
// DequantizeLinear of 8-bit codes absorbs the element-wise nodes after it that compute one
// function of its value (a QOperator model's SiLU) and runs them as a 256-entry table built
// by their own kernels. The result must be bit for bit the unfused session's, for uint8 and
// int8 codes, with the island's output quantized or left float; where an island tensor is
// also read elsewhere (or is a graph output) nothing is absorbed.
#include <gtest/gtest.h>

#include <random>

#include "graph/model_builder.h"
#include "runtime/session.h"
#include "tensor_compare.h"

namespace dpl::test {
namespace {

// codes q (an input, as a QLinearConv's output would be) -> DequantizeLinear (the absorbing
// node) -> Sigmoid -> [Q -> DQ] -> Mul(d, .) -> QuantizeLinear [-> DequantizeLinear] -> y;
// `tap` also makes the Sigmoid's output a graph output.
template <typename Q>
ModelBuilder silu_model(bool gate, bool float_out, bool tap) {
  ModelBuilder b;
  b.input("q", {2, 4, 4, 8}, std::is_same_v<Q, uint8_t> ? DType::U8 : DType::I8);
  b.init("s0", Tensor::scalar<float>(0.043f)).init("z0", Tensor::scalar<Q>(std::is_same_v<Q, uint8_t> ? 120 : -7));
  b.init("s1", Tensor::scalar<float>(1.f / 255.f)).init("z1", Tensor::scalar<Q>(std::is_same_v<Q, uint8_t> ? 0 : -128));
  b.init("s2", Tensor::scalar<float>(0.031f)).init("z2", Tensor::scalar<Q>(std::is_same_v<Q, uint8_t> ? 9 : -100));
  b.node("DequantizeLinear", {"q", "s0", "z0"}, {"d"}, "dq");
  b.node("Sigmoid", {"d"}, {"sig"});
  std::string gate_out = "sig";
  if (gate) {
    b.node("QuantizeLinear", {"sig", "s1", "z1"}, {"gq"}).node("DequantizeLinear", {"gq", "s1", "z1"}, {"gd"});
    gate_out = "gd";
  }
  b.node("Mul", {"d", gate_out}, {"m"}).node("QuantizeLinear", {"m", "s2", "z2"}, {"yq"});
  if (float_out) {
    b.node("DequantizeLinear", {"yq", "s2", "z2"}, {"y"});
    b.output("y");
  } else {
    b.output("yq", std::is_same_v<Q, uint8_t> ? DType::U8 : DType::I8);
  }
  if (tap) b.output("sig");
  return b;
}

template <typename Q>
void check(bool gate, bool float_out, bool tap) {
  SCOPED_TRACE(::testing::Message() << "gate " << gate << " float_out " << float_out << " tap " << tap);
  OnnxGraph g = silu_model<Q>(gate, float_out, tap).graph();
  Tensor x(std::is_same_v<Q, uint8_t> ? DType::U8 : DType::I8, {2, 4, 4, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<Q>()[i] = static_cast<Q>(i * 37 + 11);  // each of the 256 codes once
  SessionOptions fused_opts;
  fused_opts.fuse = true;
  Session plain(g), fused(g, fused_opts);
  const TensorMap want = plain.run({{"q", x}}), got = fused.run({{"q", x}});
  for (const auto& [name, t] : want) {
    SCOPED_TRACE(name);
    expect_tensor_near(got.at(name), t, 0, 0);
  }
  int absorbed = -1;
  for (int i = 0; i < fused.node_count(); ++i)
    if (fused.node(i).name == "dq") absorbed = fused.node(i).absorbed.empty() ? 0 : int(fused.node(i).absorbed[0].absorbed.size());
  ASSERT_GE(absorbed, 0) << "the DequantizeLinear is no longer in the plan";
  if (tap) EXPECT_EQ(absorbed, 0) << "the Sigmoid's output is a graph output: nothing may be absorbed";
  else EXPECT_EQ(absorbed, (gate ? 5 : 3) + (float_out ? 1 : 0));
}

TEST(CodeLookup, QuantizedSiluIsOneTableBitForBit) {
  for (bool gate : {true, false})
    for (bool float_out : {false, true}) {
      check<uint8_t>(gate, float_out, false);
      check<int8_t>(gate, float_out, false);
    }
}

TEST(CodeLookup, NothingIsAbsorbedWhereAnIslandTensorIsReadElsewhere) {
  check<uint8_t>(true, false, true);
}

}  // namespace
}  // namespace dpl::test
