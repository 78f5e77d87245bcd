// "Simulated = what ONNX says": the QDQ model run by our runtime against quantize-dequantize
// worked out here from ONNX's definition (y = saturate(round_half_even(x / s) + zp),
// x' = (y - zp) * s, saturating to the storage type's range) followed by the float
// operator computed in double.
#include <gtest/gtest.h>

#include <cmath>

#include "graph/model_builder.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"

namespace dpl::test {
namespace {

struct Qdq {
  QuantParams p;
  // Quantize-dequantize one value with the parameters of channel c.
  float operator()(float v, size_t c = 0) const {
    const size_t k = p.scale.size() == 1 ? 0 : c;
    const float s = p.scale[k];
    const int zp = p.zero_point[k];
    const float lo = p.zp_type == DType::I8 ? -128.f : 0.f;
    const float hi = p.zp_type == DType::I8 ? 127.f : 255.f;
    float q = std::nearbyint(v / s) + static_cast<float>(zp);
    q = std::min(std::max(q, lo), hi);
    return static_cast<float>(static_cast<int>(q) - zp) * s;
  }
  // True when v / s lies within `eps` of a rounding boundary (k + 0.5): float summation
  // order may then legitimately pick the other neighbour.
  bool near_tie(double v, double eps = 1e-3) const {
    double r = v / p.scale[0];
    return std::fabs(std::fabs(r - std::floor(r)) - 0.5) < eps;
  }
};

// x [1, 2, 5, 5] -> Conv(W [3, 2, 3, 3], B, pads 1) -> c -> Relu -> y
OnnxGraph conv_model() {
  ModelBuilder b;
  b.input("x", {1, 2, 5, 5})
      .init("W", random_tensor({3, 2, 3, 3}, 101, -0.5f, 0.5f))
      .init("B", random_tensor({3}, 102, -0.2f, 0.2f))
      .node("Conv", {"x", "W", "B"}, {"c"}, "conv")
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
      .node("Relu", {"c"}, {"y"}, "relu")
      .output("y", {1, 3, 5, 5});
  return b.graph();
}

// Conv + Relu in double on quantize-dequantized input and weights.
std::vector<double> conv_relu_ref(const Tensor& x, const Tensor& w, const Tensor& bias, const Qdq& qx, const Qdq& qw) {
  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  std::vector<double> out(3 * 25);
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) {
        double acc = bias.data<float>()[o];
        for (int c = 0; c < 2; ++c)
          for (int ki = 0; ki < 3; ++ki)
            for (int kj = 0; kj < 3; ++kj) {
              int ii = i + ki - 1, jj = j + kj - 1;
              if (ii < 0 || ii >= 5 || jj < 0 || jj >= 5) continue;
              acc += static_cast<double>(qx(xd[(c * 5 + ii) * 5 + jj])) *
                     qw(wd[((o * 2 + c) * 3 + ki) * 3 + kj], static_cast<size_t>(o));
            }
        out[(o * 5 + i) * 5 + j] = std::max(acc, 0.0);
      }
  return out;
}

TEST(QdqSimulated, ConvTrtPerChannelSymmetric) {
  OnnxGraph g = conv_model();
  Tensor x = random_tensor({1, 2, 5, 5}, 103, -1.f, 1.f);
  Tensor calib = random_tensor({1, 2, 5, 5}, 104, -0.8f, 0.8f);  // x goes past this range: saturation
  ActRanges act = minmax_ranges(g, {{{"x", calib}}});
  WeightRanges wr = all_weight_ranges(g);
  const Platform& trt = platform_by_name("trt");
  QdqModel m = build_qdq(g, trt, act, wr, {});
  ASSERT_TRUE(check_onnx(m.graph, true).empty()) << check_onnx(m.graph, true);

  Qdq qx{quant_params(trt.act, act.at("x"))};
  Qdq qw{quant_params(trt.weight, channel_ranges(g.get_initializer("W"), 0))};
  ASSERT_EQ(qw.p.scale.size(), 3u);
  std::vector<double> want = conv_relu_ref(x, g.get_initializer("W"), g.get_initializer("B"), qx, qw);

  Session s(m.graph);
  Tensor got = s.run({{"x", x}}).at("y");
  Tensor fp = Session(g).run({{"x", x}}).at("y");
  ASSERT_EQ(got.shape(), (Shape{1, 3, 5, 5}));
  double max_err = 0, max_fp_diff = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    max_err = std::max(max_err, std::fabs(got.data<float>()[i] - want[i]));
    max_fp_diff = std::max(max_fp_diff, std::fabs(static_cast<double>(got.data<float>()[i]) - fp.data<float>()[i]));
  }
  EXPECT_LT(max_err, 1e-5);
  // Quantization did happen (and the reference is not the float result).
  EXPECT_GT(max_fp_diff, 1e-3);
}

TEST(QdqSimulated, ConvRvAsymmetricWithOutputPair) {
  OnnxGraph g = conv_model();
  Tensor x = random_tensor({1, 2, 5, 5}, 105, -1.f, 1.f);
  Tensor calib = random_tensor({1, 2, 5, 5}, 106, -0.3f, 0.9f);
  ActRanges act = minmax_ranges(g, {{{"x", calib}}});
  WeightRanges wr = all_weight_ranges(g);
  const Platform& rv = platform_by_name("rv");
  QdqModel m = build_qdq(g, rv, act, wr, {});
  ASSERT_TRUE(check_onnx(m.graph, true).empty()) << check_onnx(m.graph, true);
  ASSERT_EQ(m.graph.network_outputs(), (std::vector<std::string>{"y_dq"}));

  Qdq qx{quant_params(rv.act, act.at("x"))};
  Qdq qw{quant_params(rv.weight, channel_ranges(g.get_initializer("W"), 0))};
  Qdq qy{quant_params(rv.act, act.at("y"))};
  ASSERT_EQ(qx.p.zp_type, DType::U8);
  ASSERT_NE(qx.p.zero_point[0], 0);  // a real asymmetric case
  ASSERT_EQ(qw.p.scale.size(), 1u);
  std::vector<double> pre = conv_relu_ref(x, g.get_initializer("W"), g.get_initializer("B"), qx, qw);

  Tensor got = Session(m.graph).run({{"x", x}}).at("y_dq");
  int exact = 0, ties = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const float want = qy(static_cast<float>(pre[i]));
    const float g_i = got.data<float>()[i];
    if (std::fabs(g_i - want) <= 1e-6f) {
      ++exact;
    } else {
      // Only at a rounding tie may the runtime's float Conv pick the other neighbour.
      EXPECT_TRUE(qy.near_tie(pre[i])) << i << ": got " << g_i << ", expected " << want;
      EXPECT_NEAR(std::fabs(g_i - want), qy.p.scale[0], 1e-6) << i;
      ++ties;
    }
  }
  EXPECT_GE(exact, got.numel() - 2) << ties << " ties";
}

TEST(QdqSimulated, GemmPerOutputChannelWeights) {
  // Gemm with transB = 0: the per-channel scales run along axis 1 of B (the outputs).
  ModelBuilder b;
  b.input("x", {3, 4})
      .init("B", random_tensor({4, 5}, 107, -1.f, 1.f))
      .init("C", random_tensor({5}, 108, -0.1f, 0.1f))
      .node("Gemm", {"x", "B", "C"}, {"y"}, "gemm")
      .output("y", {3, 5});
  OnnxGraph g = b.graph();
  Tensor x = random_tensor({3, 4}, 109, -1.f, 1.f);
  ActRanges act = minmax_ranges(g, {{{"x", x}}});
  // Scale columns of B very differently so that per-column scales matter.
  Tensor bw = g.get_initializer("B").clone();
  for (int k = 0; k < 4; ++k)
    for (int n = 0; n < 5; ++n) bw.data<float>()[k * 5 + n] *= std::pow(4.f, static_cast<float>(n - 2));
  g.set_initializer("B", bw);
  const Platform& trt = platform_by_name("trt");
  QdqModel m = build_qdq(g, trt, act, all_weight_ranges(g), {});
  ASSERT_TRUE(check_onnx(m.graph, true).empty()) << check_onnx(m.graph, true);

  Qdq qx{quant_params(trt.act, act.at("x"))};
  Qdq qb{quant_params(trt.weight, channel_ranges(bw, 1))};
  ASSERT_EQ(qb.p.scale.size(), 5u);
  Tensor got = Session(m.graph).run({{"x", x}}).at("y");
  for (int i = 0; i < 3; ++i)
    for (int n = 0; n < 5; ++n) {
      double acc = g.get_initializer("C").data<float>()[n];
      for (int k = 0; k < 4; ++k)
        acc += static_cast<double>(qx(x.data<float>()[i * 4 + k])) * qb(bw.data<float>()[k * 5 + n], n);
      EXPECT_NEAR(got.data<float>()[i * 5 + n], acc, 1e-5 * std::max(1.0, std::fabs(acc))) << i << "," << n;
    }
}

}  // namespace
}  // namespace dpl::test
