// Channels-last tensors between convolutions (runtime/channels_last.h): a session that lets
// QLinearConv leave its output channels-last and passes it through element-wise nodes must
// give bit for bit what the same session gives with every tensor plain, whatever
// consumes the tensor (another QLinearConv, an element-wise chain, an operator that needs it
// plain, a fetched intermediate, a graph output), for int8 and uint8 weights (offset terms),
// depthwise, grouped and 1x1 layers, and strided and padded windows. Float convolutions
// (fused BN, activations and residual Add included) give it up to float rounding.
#include <gtest/gtest.h>

#include <random>

#include "core/tensor.h"
#include "graph/model_builder.h"
#include "runtime/channels_last.h"
#include "runtime/ops/dnnl_test_util.h"
#include "runtime/session.h"
#include "tensor_compare.h"

namespace dpl::test {
namespace {

// Adds QLinearConv `name` from u8 tensor `in` (scale 0.05, zero point 100) with weights of
// type W in [wlo, whi], per-channel zero points `wzp`, into u8 tensor `out`.
template <typename W>
void add_qconv(ModelBuilder& b, const std::string& name, const std::string& in, const std::string& out, int64_t C,
               int64_t M, int64_t k, int64_t group, int64_t stride, int64_t pad, int wlo, int whi,
               const std::vector<int>& wzp, uint32_t seed) {
  Tensor w = random_int<W>({M, C / group, k, k}, seed, wlo, whi);
  std::vector<W> zv(static_cast<size_t>(M));
  std::vector<float> sv(static_cast<size_t>(M));
  for (int64_t m = 0; m < M; ++m) zv[m] = static_cast<W>(wzp[m % wzp.size()]), sv[m] = 0.004f + 0.0005f * float(m % 5);
  b.init(name + "_w", w)
      .init(name + "_wz", Tensor::from_vector<W>({M}, zv))
      .init(name + "_ws", Tensor::from_vector<float>({M}, sv))
      .init(name + "_b", random_int<int32_t>({M}, seed + 1, -3000, 3000));
  b.node("QLinearConv",
         {in, "xs", "xz", name + "_w", name + "_ws", name + "_wz", "xs", "xz", name + "_b"}, {out}, name)
      .attr("group", group)
      .attr("strides", std::vector<int64_t>{stride, stride})
      .attr("pads", std::vector<int64_t>{pad, pad, pad, pad});
}

// Input x (float) -> QuantizeLinear -> c1 (3x3, uint8 weights) -> SiLU on dequantized values
// (element-wise chain, quantized again) -> c2 (depthwise, stride 2) -> c3 (1x1, int8 weights)
// and MaxPool (needs plain) of c2's output -> c4 (grouped) on the sum; fetches c1's output too.
ModelBuilder chain_model() {
  ModelBuilder b;
  b.input("x", {2, 8, 11, 9});
  b.init("xs", Tensor::scalar<float>(0.05f)).init("xz", Tensor::scalar<uint8_t>(100));
  b.node("QuantizeLinear", {"x", "xs", "xz"}, {"q0"});
  add_qconv<uint8_t>(b, "c1", "q0", "q1", 8, 16, 3, 1, 1, 1, 0, 255, {0, 128, 255, 37}, 10);
  b.node("DequantizeLinear", {"q1", "xs", "xz"}, {"d1"})
      .node("Sigmoid", {"d1"}, {"s1"})
      .node("Mul", {"d1", "s1"}, {"m1"})
      .node("QuantizeLinear", {"m1", "xs", "xz"}, {"q2"});
  add_qconv<uint8_t>(b, "c2", "q2", "q3", 16, 16, 3, 16, 2, 1, 0, 255, {3, 250}, 20);
  add_qconv<int8_t>(b, "c3", "q3", "q4", 16, 24, 1, 1, 1, 0, -128, 127, {0}, 30);
  b.node("MaxPool", {"q3"}, {"p3"}).attr("kernel_shape", std::vector<int64_t>{1, 1});
  add_qconv<int8_t>(b, "c4", "p3", "q5", 16, 8, 3, 4, 1, 1, -100, 100, {5, -5}, 40);
  b.node("DequantizeLinear", {"q4", "xs", "xz"}, {"y4"}).node("DequantizeLinear", {"q5", "xs", "xz"}, {"y5"});
  b.output("y4").output("y5").output("q1", DType::U8);
  return b;
}

TEST(ChannelsLast, IntegerConvolutionChainsGiveThePlainResultBitForBit) {
  const ModelBuilder b = chain_model();
  OnnxGraph g = b.graph();
  Tensor x(DType::F32, {2, 8, 11, 9});
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-6.f, 7.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = d(rng);
  SessionOptions plain_opts;
  plain_opts.channels_last = false;
  Session plain(g, plain_opts), last(g);
  const TensorMap want = plain.run({{"x", x}});
  for (int rep = 0; rep < 2; ++rep) {  // a second run reuses the kernels built for the layouts
    const TensorMap got = last.run({{"x", x}});
    for (const char* out : {"y4", "y5", "q1"}) {
      SCOPED_TRACE(out);
      expect_tensor_near(got.at(out), want.at(out), 0, 0);
    }
  }
  // The four convolutions and the MaxPool left their outputs channels-last; converted back:
  // c1's (q1) and the two dequantized outputs for the fetch. The plain session none.
  EXPECT_EQ(last.channels_last_stats().produced, 5);
  EXPECT_EQ(last.channels_last_stats().converted, 3);
  EXPECT_EQ(plain.channels_last_stats().produced, 0);
  const Tensor t = random_int<uint8_t>({2, 3, 4, 5}, 3, 0, 255);
  const Tensor cl = plain_to_channels_last(t);
  EXPECT_EQ(cl.shape(), t.shape());
  EXPECT_EQ(cl.data<uint8_t>()[1], t.data<uint8_t>()[20]);  // memory [N, H, W, C]: (0, 0, 0, 1)
  expect_tensor_near(channels_last_to_plain(cl), t, 0, 0);
}

// Float: x -> c1 (3x3, BN and Relu absorbed) -> c2 (3x3 stride 2) -> SiLU -> c3 (1x1) +
// residual Add of SiLU's output and Relu (absorbed) -> dw (depthwise 3x3) -> MaxPool 3x3 and
// AveragePool 2x2 (padded) -> c4 (1x1) -> c5 (grouped 3x3) -> Add of a plain graph input x2
// (mixed orders); fetches c2's output too.
ModelBuilder float_chain_model() {
  ModelBuilder b;
  b.input("x", {2, 8, 40, 36});
  auto conv = [&](const std::string& name, const std::string& in, const std::string& out, int64_t C, int64_t M,
                  int64_t k, int64_t group, int64_t stride, uint32_t seed) {
    b.init(name + "_w", random_f32({M, C / group, k, k}, seed, -0.3f, 0.3f))
        .init(name + "_b", random_f32({M}, seed + 1, -0.5f, 0.5f));
    b.node("Conv", {in, name + "_w", name + "_b"}, {out}, name)
        .attr("group", group)
        .attr("strides", std::vector<int64_t>{stride, stride})
        .attr("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  };
  conv("c1", "x", "c1o", 8, 16, 3, 1, 1, 10);
  b.init("bn_s", random_f32({16}, 11, 0.5f, 1.5f)).init("bn_b", random_f32({16}, 12))
      .init("bn_m", random_f32({16}, 13)).init("bn_v", random_f32({16}, 14, 0.5f, 2.f));
  b.node("BatchNormalization", {"c1o", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"}).node("Relu", {"bn"}, {"r1"});
  conv("c2", "r1", "c2o", 16, 16, 3, 1, 2, 20);
  b.node("Sigmoid", {"c2o"}, {"sg"}).node("Mul", {"c2o", "sg"}, {"silu"});
  conv("c3", "silu", "c3o", 16, 16, 1, 1, 1, 30);
  b.node("Add", {"c3o", "silu"}, {"res"}).node("Relu", {"res"}, {"r3"});
  conv("dw", "r3", "dwo", 16, 16, 3, 16, 1, 40);
  b.node("MaxPool", {"dwo"}, {"p"})
      .attr("kernel_shape", std::vector<int64_t>{3, 3})
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("AveragePool", {"p"}, {"p2"})
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{0, 0, 1, 1});
  conv("c4", "p2", "c4o", 16, 32, 1, 1, 1, 50);
  conv("c5", "c4o", "c5o", 32, 8, 3, 4, 1, 60);
  b.input("x2", {2, 8, 20, 18});
  b.node("Add", {"c5o", "x2"}, {"y"});
  b.output("y").output("c2o");
  return b;
}

TEST(ChannelsLast, FloatConvolutionChainsGiveThePlainResult) {
  OnnxGraph g = float_chain_model().graph();
  const Tensor x = random_f32({2, 8, 40, 36}, 7, -2.f, 2.f), x2 = random_f32({2, 8, 20, 18}, 8, -1.f, 1.f);
  SessionOptions plain_opts, last_opts;
  plain_opts.fuse = last_opts.fuse = true;  // BN, activations and the residual Add absorbed
  plain_opts.channels_last = false;
  Session plain(g, plain_opts), last(g, last_opts), unfused(g);
  const TensorMap feeds = {{"x", x}, {"x2", x2}};
  const TensorMap want = plain.run(feeds);
  for (int rep = 0; rep < 2; ++rep) {
    const TensorMap got = last.run(feeds);
    const TensorMap got_unfused = unfused.run(feeds);
    expect_tensor_near(got_unfused.at("y"), want.at("y"), 1e-4, 1e-5);
    for (const char* out : {"y", "c2o"}) {
      SCOPED_TRACE(out);
      // Another accumulation order: equal up to float rounding.
      expect_tensor_near(got.at(out), want.at(out), 1e-4, 1e-5);
    }
  }
  // Fused: channels-last outputs from c1 (plain in, but reordered anyway), c2, c3 (+ Add +
  // Relu, its operand the SiLU passed on channels-last), dw, the two pools, c4 and c5 (+ the
  // Add, its plain operand x2 put in c5's order by the conv). Converted by the session: c2o
  // and y for the fetch.
  EXPECT_EQ(last.channels_last_stats().produced, 8);
  EXPECT_EQ(last.channels_last_stats().converted, 2);
  // Unfused: the same eight, and converted: c1o for the BatchNormalization, x2 to
  // channels-last for the Add of mixed orders (whose output stays channels-last), y and c2o
  // for the fetch.
  EXPECT_EQ(unfused.channels_last_stats().produced, 8);
  EXPECT_EQ(unfused.channels_last_stats().converted, 4);
  // With a hook every tensor stays plain (the hook sees plain values).
  int hooked = 0;
  last.set_hook([&](const std::string&, const Tensor&) { ++hooked; });
  const TensorMap hooked_out = last.run(feeds);
  EXPECT_GT(hooked, 0);
  EXPECT_EQ(last.channels_last_stats().produced, 0);
  expect_tensor_near(hooked_out.at("y"), want.at("y"), 0, 0);
}

// Concat along the channels and nearest Resize pass channels-last tensors on: a Concat of
// two convolutions' outputs and a plain graph input, a 2x nearest upsampling into a third
// convolution, a downscale by sizes and a tf_crop_and_resize whose corners lie outside
// (extrapolation value) give what the plain session gives.
TEST(ChannelsLast, ConcatAndNearestResizeKeepTheOrder) {
  ModelBuilder b;
  b.input("x", {2, 8, 20, 18});
  b.init("w1", random_f32({16, 8, 3, 3}, 1, -0.3f, 0.3f)).init("w2", random_f32({8, 16, 1, 1}, 2, -0.3f, 0.3f));
  b.init("w3", random_f32({8, 32, 3, 3}, 3, -0.2f, 0.2f));
  const std::vector<int64_t> pad1 = {1, 1, 1, 1};
  b.node("Conv", {"x", "w1"}, {"c1o"}, "c1").attr("pads", pad1);
  b.node("Conv", {"c1o", "w2"}, {"c2o"}, "c2");
  b.node("Concat", {"c1o", "c2o", "x"}, {"cat"}, "cat").attr("axis", int64_t{1});
  b.init("scales", Tensor::from_vector<float>({4}, {1.f, 1.f, 2.f, 2.f}));
  b.node("Resize", {"cat", "", "scales"}, {"up"}, "up").attr("mode", std::string("nearest"));
  b.node("Conv", {"up", "w3"}, {"y"}, "c3").attr("pads", pad1);
  b.init("sizes", Tensor::from_vector<int64_t>({4}, {2, 32, 13, 7}));
  b.node("Resize", {"cat", "", "", "sizes"}, {"down"}, "down").attr("mode", std::string("nearest"));
  b.init("roi", Tensor::from_vector<float>({8}, {0.f, 0.f, -0.2f, -0.1f, 1.f, 1.f, 1.1f, 1.2f}));
  b.init("crop_sizes", Tensor::from_vector<int64_t>({4}, {2, 32, 12, 11}));
  b.node("Resize", {"cat", "roi", "", "crop_sizes"}, {"crop"}, "crop")
      .attr("mode", std::string("nearest"))
      .attr("coordinate_transformation_mode", std::string("tf_crop_and_resize"))
      .attr("extrapolation_value", 7.f);
  b.output("y").output("down").output("crop");
  const OnnxGraph g = b.graph();
  const TensorMap feeds = {{"x", random_f32({2, 8, 20, 18}, 9, -2.f, 2.f)}};
  SessionOptions plain_opts;
  plain_opts.channels_last = false;
  Session plain(g, plain_opts), last(g);
  const TensorMap want = plain.run(feeds), got = last.run(feeds);
  for (const char* out : {"y", "down", "crop"}) {
    SCOPED_TRACE(out);
    expect_tensor_near(got.at(out), want.at(out), 1e-4, 1e-5);
  }
  int sevens = 0;
  for (float v : got.at("crop").to_f32_vector()) sevens += v == 7.f;
  EXPECT_GT(sevens, 0);  // the corners outside the crop
  // Channels-last: c1o, c2o, the Concat, the three Resizes and y; converted by the session
  // only for the three fetches (the Concat puts its plain input x in order itself).
  EXPECT_EQ(last.channels_last_stats().produced, 7);
  EXPECT_EQ(last.channels_last_stats().converted, 3);
}

// A squeeze-excitation block (PP-OCRv4 det's neck, MobileNetV3): the global pools read the
// convolution's channels-last output as it is, and the Mul by the per-channel scale and an
// Add of a per-channel bias (first operand) keep it channels-last, so nothing is converted
// but the fetched output; a Mul whose other operand varies along a spatial axis converts
// inside the op (the slot stays channels-last). Values as the plain session's up to float
// rounding (the pools' sums in another order).
TEST(ChannelsLast, SqueezeExcitationKeepsTheOrder) {
  for (bool spatial_operand : {false, true}) {
    SCOPED_TRACE(spatial_operand ? "with a row-varying operand" : "per-channel operands");
    ModelBuilder b;
    b.input("x", {2, 16, 20, 18});
    b.init("w1", random_f32({16, 16, 3, 3}, 1, -0.3f, 0.3f)).init("w2", random_f32({16, 16, 1, 1}, 2, -0.5f, 0.5f));
    b.init("w3", random_f32({8, 16, 3, 3}, 3, -0.3f, 0.3f)).init("bias", random_f32({1, 16, 1, 1}, 4, -1.f, 1.f));
    b.init("rows", random_f32({20, 1}, 5, 0.5f, 1.5f));
    const std::vector<int64_t> pad1 = {1, 1, 1, 1};
    b.node("Conv", {"x", "w1"}, {"c1o"}, "c1").attr("pads", pad1);
    b.node("GlobalAveragePool", {"c1o"}, {"avg"}, "gap").node("GlobalMaxPool", {"c1o"}, {"mx"}, "gmp");
    b.node("Add", {"avg", "mx"}, {"pooled"}, "pooled").node("Conv", {"pooled", "w2"}, {"sp"}, "c2");
    b.node("Sigmoid", {"sp"}, {"scale"}, "sig").node("Mul", {"c1o", "scale"}, {"m"}, "se");
    b.node("Add", {"bias", "m"}, {"m2"}, "bias_add");
    std::string last = "m2";
    if (spatial_operand) b.node("Mul", {"m2", "rows"}, {"m3"}, "rows_mul"), last = "m3";
    b.node("Relu", {last}, {"r"}, "relu").node("Conv", {"r", "w3"}, {"y"}, "c3").attr("pads", pad1);
    b.output("y");
    const OnnxGraph g = b.graph();
    const TensorMap feeds = {{"x", random_f32({2, 16, 20, 18}, 9, -2.f, 2.f)}};
    SessionOptions plain_opts;
    plain_opts.channels_last = false;
    Session plain(g, plain_opts), last_s(g);
    expect_tensor_near(last_s.run(feeds).at("y"), plain.run(feeds).at("y"), 1e-4, 1e-5);
    EXPECT_EQ(last_s.channels_last_stats().converted, 1);  // y, for the fetch; none for the pools, the Mul, the Add
  }
}

TEST(ChannelsLast, ElementWiseNodesPassItOnOnlyWithPerTensorParameters) {
  NodeDesc sig;
  sig.op_type = "Sigmoid";
  const Tensor a(DType::F32, {1, 4, 2, 2}), b(DType::F32, {1, 4, 2, 2}), c(DType::F32, {1, 4, 1, 1});
  const Tensor s = Tensor::scalar<float>(1.f), per_channel(DType::F32, {4});
  EXPECT_TRUE(runs_on_any_layout(sig, {&a}));
  NodeDesc mul;
  mul.op_type = "Mul";
  EXPECT_TRUE(runs_on_any_layout(mul, {&a, &b}));
  EXPECT_FALSE(runs_on_any_layout(mul, {&a, &c}));  // broadcast along channels
  NodeDesc q;
  q.op_type = "QuantizeLinear";
  EXPECT_TRUE(runs_on_any_layout(q, {&a, &s, nullptr}));
  EXPECT_FALSE(runs_on_any_layout(q, {&a, &per_channel, nullptr}));  // per-channel scale
  NodeDesc pool;
  pool.op_type = "MaxPool";
  EXPECT_FALSE(runs_on_any_layout(pool, {&a}));
}

}  // namespace
}  // namespace dpl::test
