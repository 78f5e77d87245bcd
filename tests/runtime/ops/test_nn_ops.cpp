// Pooling, normalization, softmax, reduction, arg-reduction and resize kernels: values
// worked out by hand, plus the fast paths (separable pooling, merged-axis reductions,
// separable resize) against naive references written here, single- and multi-threaded.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "runtime/op_tester.h"
#include "runtime/parallel.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

std::vector<float> iota_f(int64_t n, float start = 1.f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

std::vector<float> random_f(int64_t n, uint32_t seed, float lo = -3.f, float hi = 3.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Runs `body` with 1 and with 2 threads, restoring 1.
void with_threads(const std::function<void()>& body) {
  for (int t : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(t));
    set_num_threads(t);
    body();
  }
  set_num_threads(1);
}

// ---- pooling --------------------------------------------------------------------------

TEST(MaxPool, CeilModeWithPads) {
  // 4x4 of 1..16, 2x2 windows, stride 2, one leading pad: floor mode gives 2x2, ceil
  // mode 3x3 with row/column windows {0}, {1,2}, {3}.
  OpTester t("MaxPool");
  t.attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{1, 1, 0, 0})
      .attr("ceil_mode", int64_t{1});
  t.input<float>("X", {1, 1, 4, 4}, iota_f(16));
  t.output<float>("Y", {1, 1, 3, 3}, {1, 3, 4, 9, 11, 12, 13, 15, 16});
  t.run();

  OpTester f("MaxPool");
  f.attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{1, 1, 0, 0});
  f.input<float>("X", {1, 1, 4, 4}, iota_f(16));
  f.output<float>("Y", {1, 1, 2, 2}, {1, 3, 9, 11});
  f.run();
}

TEST(MaxPool, CeilModeDropsWindowStartingInEndPadding) {
  // in 5, k 2, s 2, pads 1/1: ceil((5+2-2)/2)+1 = 4 windows, but the 4th would start at
  // position 5 (in the trailing padding), so there are 3.
  OpTester t("MaxPool");
  t.attr("kernel_shape", std::vector<int64_t>{2})
      .attr("strides", std::vector<int64_t>{2})
      .attr("pads", std::vector<int64_t>{1, 1})
      .attr("ceil_mode", int64_t{1});
  t.input<float>("X", {1, 1, 5}, {1, 2, 3, 4, 5});
  t.output<float>("Y", {1, 1, 3}, {1, 3, 5});
  t.run();
}

TEST(MaxPool, IndicesRowAndColumnMajor) {
  // Two channels of 2x3, 2x2 windows, stride 1. Indices are flat over N*C*H*W.
  const std::vector<float> x = {1, 7, 2, 5, 3, 8, -1, -7, -2, -5, -3, -8};
  for (int64_t order : {0, 1}) {
    SCOPED_TRACE("storage_order " + std::to_string(order));
    OpTester t("MaxPool");
    t.attr("kernel_shape", std::vector<int64_t>{2, 2}).attr("storage_order", order);
    t.input<float>("X", {1, 2, 2, 3}, x);
    t.output<float>("Y", {1, 2, 1, 2}, {7, 8, -1, -2});
    if (order == 0) t.output<int64_t>("I", {1, 2, 1, 2}, {1, 5, 6, 8});
    else t.output<int64_t>("I", {1, 2, 1, 2}, {2, 5, 6, 10});
    t.run();
  }
}

TEST(MaxPool, Uint8) {
  OpTester t("MaxPool", 12);
  t.attr("kernel_shape", std::vector<int64_t>{2, 2});
  t.input<uint8_t>("X", {1, 1, 2, 3}, {1, 200, 3, 4, 5, 255});
  t.output<uint8_t>("Y", {1, 1, 1, 2}, {200, 255});
  t.run();
}

TEST(MaxUnpool, ScattersToIndices) {
  // Default shape (2 - 1) * 2 + 2 = 4 per axis; values land at the flat indices.
  OpTester t("MaxUnpool", 11);
  t.attr("kernel_shape", std::vector<int64_t>{2, 2}).attr("strides", std::vector<int64_t>{2, 2});
  t.input<float>("X", {1, 1, 2, 2}, {5, 6, 7, 8});
  t.input<int64_t>("I", {1, 1, 2, 2}, {5, 7, 13, 15});
  t.output<float>("Y", {1, 1, 4, 4}, {0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8});
  t.run();
  // A larger output_shape keeps the positions and pads at the end of each axis.
  OpTester p("MaxUnpool", 11);
  p.attr("kernel_shape", std::vector<int64_t>{2, 2}).attr("strides", std::vector<int64_t>{2, 2});
  p.input<float>("X", {1, 1, 2, 2}, {5, 6, 7, 8});
  p.input<int64_t>("I", {1, 1, 2, 2}, {5, 7, 13, 15});
  p.input<int64_t>("shape", {4}, {1, 1, 4, 5}, true);
  p.output<float>("Y", {1, 1, 4, 5}, {0, 0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, 0, 8, 0});
  p.run();
  OpTester bad("MaxUnpool", 11);
  bad.attr("kernel_shape", std::vector<int64_t>{2, 2}).attr("strides", std::vector<int64_t>{2, 2});
  bad.input<float>("X", {1, 1, 1, 1}, {5});
  bad.input<int64_t>("I", {1, 1, 1, 1}, {4});  // output has 4 elements
  bad.output<float>("Y", {1, 1, 2, 2}, {0, 0, 0, 0});
  EXPECT_THROW(bad.run_outputs(), Error);
}

TEST(AveragePool, CountIncludePadBothWays) {
  // 3x3 of 1..9, 3x3 windows, stride 2, pads 1: each output sees a 2x2 block of the
  // input; the divisor is 4 without padding, 9 with it.
  const std::vector<float> sums = {12, 16, 24, 28};
  for (int64_t inc : {0, 1}) {
    SCOPED_TRACE("count_include_pad " + std::to_string(inc));
    OpTester t("AveragePool");
    t.attr("kernel_shape", std::vector<int64_t>{3, 3})
        .attr("strides", std::vector<int64_t>{2, 2})
        .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
        .attr("count_include_pad", inc);
    t.input<float>("X", {1, 1, 3, 3}, iota_f(9));
    std::vector<float> want;
    for (float s : sums) want.push_back(s / (inc ? 9.f : 4.f));
    t.output<float>("Y", {1, 1, 2, 2}, want);
    t.run();
  }
}

TEST(GlobalPool, AverageAndMax) {
  OpTester a("GlobalAveragePool");
  a.input<float>("X", {1, 2, 2, 2}, {1, 2, 3, 4, -1, -2, -3, 10});
  a.output<float>("Y", {1, 2, 1, 1}, {2.5f, 1.f});
  a.run();
  OpTester m("GlobalMaxPool");
  m.input<float>("X", {1, 2, 2, 2}, {1, 2, 3, 4, -1, -2, -3, 10});
  m.output<float>("Y", {1, 2, 1, 1}, {4.f, 10.f});
  m.run();
}

struct PoolCase {
  bool is_max;
  Shape x;  // N, C, spatial...
  std::vector<int64_t> k, s, d, pads;
  bool ceil = false, include_pad = false;
  std::string auto_pad = "NOTSET";
};

// Direct N-D pooling: every output visits its whole window with bounds checks.
std::pair<Shape, std::vector<float>> naive_pool(const PoolCase& c, const std::vector<float>& x) {
  const size_t m = c.k.size();
  std::vector<int64_t> out(m), pb(m), pe(m);
  for (size_t i = 0; i < m; ++i) {
    const int64_t in = c.x[i + 2], ke = (c.k[i] - 1) * c.d[i] + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[i] = (in + c.s[i] - 1) / c.s[i];
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * c.s[i] + ke - in);
      pb[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
    } else {
      pb[i] = c.pads[i];
      pe[i] = c.pads[i + m];
      const double span = static_cast<double>(in + pb[i] + pe[i] - ke) / static_cast<double>(c.s[i]);
      out[i] = static_cast<int64_t>(c.ceil ? std::ceil(span) : std::floor(span)) + 1;
      if (c.ceil && (out[i] - 1) * c.s[i] >= in + pb[i]) --out[i];
    }
  }
  Shape ys = {c.x[0], c.x[1]};
  for (auto o : out) ys.push_back(o);
  std::vector<float> y(shape_numel(ys));
  const int64_t nc = c.x[0] * c.x[1];
  int64_t in_slice = 1, out_slice = 1;
  for (size_t i = 0; i < m; ++i) in_slice *= c.x[i + 2], out_slice *= out[i];
  for (int64_t s = 0; s < nc; ++s) {
    for (int64_t oi = 0; oi < out_slice; ++oi) {
      std::vector<int64_t> o(m);
      for (int64_t r = oi, i = static_cast<int64_t>(m) - 1; i >= 0; --i) o[i] = r % out[i], r /= out[i];
      int64_t taps = 1;
      for (auto kk : c.k) taps *= kk;
      float best = -std::numeric_limits<float>::infinity(), sum = 0;
      int64_t count = 0, count_pad = 0;
      for (int64_t ti = 0; ti < taps; ++ti) {
        int64_t r = ti, off = 0;
        bool inside = true, inside_pad = true;
        for (int64_t i = static_cast<int64_t>(m) - 1; i >= 0; --i) {
          const int64_t j = r % c.k[i];
          r /= c.k[i];
          const int64_t pos = o[i] * c.s[i] - pb[i] + j * c.d[i];
          if (pos < 0 || pos >= c.x[i + 2]) inside = false;
          if (pos >= c.x[i + 2] + pe[i]) inside_pad = false;
          int64_t stride = 1;
          for (size_t q = i + 1; q < m; ++q) stride *= c.x[q + 2];
          off += pos * stride;
        }
        if (inside_pad) ++count_pad;
        if (!inside) continue;
        const float v = x[s * in_slice + off];
        best = std::max(best, v);
        sum += v;
        ++count;
      }
      y[s * out_slice + oi] = c.is_max ? best : sum / static_cast<float>(c.include_pad ? count_pad : count);
    }
  }
  return {ys, y};
}

TEST(Pool, SeparableMatchesNaiveReference) {
  const std::vector<PoolCase> cases = {
      {true, {2, 3, 7, 6}, {3, 2}, {2, 1}, {1, 2}, {1, 0, 1, 1}},
      {true, {2, 3, 7, 6}, {3, 2}, {2, 1}, {1, 2}, {1, 0, 1, 1}, true},
      {true, {1, 4, 13, 13}, {13, 13}, {1, 1}, {1, 1}, {6, 6, 6, 6}},  // YOLOX SPP
      {true, {1, 4, 13, 13}, {9, 9}, {1, 1}, {1, 1}, {4, 4, 4, 4}},
      {true, {1, 3, 16, 16}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},  // ResNet stem
      {true, {1, 2, 9}, {4}, {3}, {1}, {2, 1}, true},
      {true, {1, 2, 5, 6, 4}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1, 1, 0, 0}},
      {true, {1, 2, 7, 5}, {3, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false, false, "SAME_LOWER"},
      {true, {2, 3, 7, 5}, {3, 2}, {1, 1}, {2, 1}, {2, 0, 1, 1}},  // stride 1, dilated, uneven pads
      {true, {1, 2, 6, 9}, {2, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}, false, false, "SAME_UPPER"},
      {false, {2, 3, 7, 6}, {3, 2}, {2, 1}, {1, 1}, {1, 0, 1, 1}},
      {false, {2, 3, 7, 6}, {3, 2}, {2, 1}, {1, 1}, {1, 0, 1, 1}, false, true},
      {false, {2, 3, 7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, true},
      {false, {1, 2, 5, 6, 4}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1, 1, 0, 0}, false, true},
      {false, {1, 2, 8, 7}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false, true, "SAME_UPPER"},
  };
  with_threads([&] {
    for (size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE("case " + std::to_string(i));
      const PoolCase& c = cases[i];
      const auto x = random_f(shape_numel(c.x), 100 + static_cast<uint32_t>(i));
      auto [ys, y] = naive_pool(c, x);
      OpTester t(c.is_max ? "MaxPool" : "AveragePool");
      t.attr("kernel_shape", c.k).attr("strides", c.s);
      if (c.auto_pad == "NOTSET") t.attr("pads", c.pads);
      else t.attr("auto_pad", c.auto_pad);
      if (c.is_max) t.attr("dilations", c.d);
      if (c.ceil) t.attr("ceil_mode", int64_t{1});
      if (c.include_pad) t.attr("count_include_pad", int64_t{1});
      t.input<float>("X", c.x, x);
      t.output<float>("Y", ys, y);
      t.tolerance(1e-5, 1e-5);
      t.run();
    }
  });
}

TEST(Pool, BadAttributesAreOneLineErrors) {
  OpTester t("MaxPool");
  t.attr("kernel_shape", std::vector<int64_t>{5, 5});
  t.input<float>("X", {1, 1, 3, 3}, iota_f(9));
  t.output<float>("Y", {1, 1, 1, 1}, {0});
  EXPECT_THROW(t.run_outputs(), Error);
}

// ---- normalization ----------------------------------------------------------------------

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

TEST(InstanceNormalization, ValuesByHand) {
  // mean 2.5, variance 1.25; scale 2, bias 1.
  OpTester t("InstanceNormalization", 6);
  t.attr("epsilon", 0.f);
  t.input<float>("X", {1, 1, 1, 4}, {1, 2, 3, 4});
  t.input<float>("scale", {1}, {2});
  t.input<float>("B", {1}, {1});
  t.output<float>("Y", {1, 1, 1, 4}, {-1.6832816f, 0.1055728f, 1.8944272f, 3.6832816f});
  t.run();
}

TEST(LayerNormalization, HandSizedTensor) {
  // Rows [1,2,3] (mean 2, var 2/3) and [4,6,11] (mean 7, var 26/3), eps 1e-5.
  OpTester t("LayerNormalization", 17);
  t.attr("axis", int64_t{-1});
  t.input<float>("X", {2, 3}, {1, 2, 3, 4, 6, 11});
  t.input<float>("Scale", {3}, {1, 2, 0.5f});
  t.input<float>("B", {3}, {0, 1, -1});
  t.output<float>("Y", {2, 3}, {-1.2247357f, 1.f, -0.3876322f, -1.0190487f, 0.3206342f, -0.3206342f});
  t.output<float>("Mean", {2, 1}, {2, 7});
  t.output<float>("InvStdDev", {2, 1}, {1.2247357f, 0.3396829f});
  t.run();
}

TEST(LayerNormalization, AxisZeroNormalizesEverything) {
  // axis 0 on [2, 2]: one group of 4 values 1..4, mean 2.5, var 1.25; no bias input.
  OpTester t("LayerNormalization", 17);
  t.attr("axis", int64_t{0}).attr("epsilon", 0.f);
  t.input<float>("X", {2, 2}, {1, 2, 3, 4});
  t.input<float>("Scale", {2, 2}, {1, 1, 1, 1});
  t.output<float>("Y", {2, 2}, {-1.3416408f, -0.4472136f, 0.4472136f, 1.3416408f});
  t.run();
}

TEST(LRN, ValuesByHand) {
  // alpha / size = 1, beta 1, bias 1: y = x / (1 + sum of squares over the window).
  OpTester t("LRN");
  t.attr("size", int64_t{3}).attr("alpha", 3.f).attr("beta", 1.f).attr("bias", 1.f);
  t.input<float>("X", {1, 3, 1, 1}, {1, 2, 3});
  t.output<float>("Y", {1, 3, 1, 1}, {1.f / 6, 2.f / 15, 3.f / 14});
  t.run();
}

// ---- softmax ------------------------------------------------------------------------------

TEST(Softmax, Opset11FlattensOpset13UsesOneAxis) {
  const std::vector<float> x = {0, 1, 2, 3};
  // Default axes: opset 13 -> last axis; opset 11 -> axis 1 flattened ([1, 4] here).
  {
    OpTester t("Softmax", 13);
    t.input<float>("X", {1, 2, 2}, x);
    t.output<float>("Y", {1, 2, 2}, {0.2689414f, 0.7310586f, 0.2689414f, 0.7310586f});
    t.run();
  }
  {
    OpTester t("Softmax", 11);
    t.input<float>("X", {1, 2, 2}, x);
    t.output<float>("Y", {1, 2, 2}, {0.0320586f, 0.0871443f, 0.2368828f, 0.6439142f});
    t.run();
  }
  // Same explicit axis=1, different meaning.
  {
    OpTester t("Softmax", 13);
    t.attr("axis", int64_t{1});
    t.input<float>("X", {1, 2, 2}, x);
    t.output<float>("Y", {1, 2, 2}, {0.1192029f, 0.1192029f, 0.8807971f, 0.8807971f});
    t.run();
  }
  {
    OpTester t("Softmax", 11);
    t.attr("axis", int64_t{1});
    t.input<float>("X", {1, 2, 2}, x);
    t.output<float>("Y", {1, 2, 2}, {0.0320586f, 0.0871443f, 0.2368828f, 0.6439142f});
    t.run();
  }
}

TEST(Softmax, LogSoftmaxLargeNumbersAndHardmax) {
  OpTester l("LogSoftmax", 13);
  l.input<float>("X", {1, 2}, {1000.f, 1000.f});
  l.output<float>("Y", {1, 2}, {-0.6931472f, -0.6931472f});
  l.run();
  OpTester h("Hardmax", 13);
  h.input<float>("X", {2, 3}, {1, 3, 3, 2, 0, 1});
  h.output<float>("Y", {2, 3}, {0, 1, 0, 1, 0, 0});
  h.run();
}

// ---- reductions -------------------------------------------------------------------------

TEST(Reduce, ValuesByHand) {
  {
    OpTester t("ReduceSum", 13);  // axes as an input
    t.attr("keepdims", int64_t{0});
    t.input<float>("X", {2, 3}, {1, 2, 3, 4, 5, 6});
    t.input<int64_t>("axes", {1}, {-1});
    t.output<float>("Y", {2}, {6, 15});
    t.run();
  }
  {
    OpTester t("ReduceSum", 13);  // empty axes with noop: identity
    t.attr("noop_with_empty_axes", int64_t{1});
    t.input<float>("X", {2, 2}, {1, 2, 3, 4});
    t.input<int64_t>("axes", {0}, {});
    t.output<float>("Y", {2, 2}, {1, 2, 3, 4});
    t.run();
  }
  {
    OpTester t("ReduceMean", 13);  // no axes: everything, keepdims
    t.input<float>("X", {2, 2}, {1, 2, 3, 6});
    t.output<float>("Y", {1, 1}, {3});
    t.run();
  }
  {
    OpTester t("ReduceMax", 13);
    t.attr("axes", std::vector<int64_t>{0});
    t.input<int32_t>("X", {2, 2}, {1, -7, 3, -9});
    t.output<int32_t>("Y", {1, 2}, {3, -7});
    t.run();
  }
  {
    OpTester t("ReduceLogSumExp", 13);  // stable for large values
    t.attr("axes", std::vector<int64_t>{1}).attr("keepdims", int64_t{0});
    t.input<float>("X", {1, 2}, {1000.f, 1000.f});
    t.output<float>("Y", {1}, {1000.6931472f});
    t.run();
  }
  {
    OpTester t("ReduceProd", 13);
    t.attr("axes", std::vector<int64_t>{0});
    t.input<int64_t>("X", {3, 1}, {2, -3, 4});
    t.output<int64_t>("Y", {1, 1}, {-24});
    t.run();
  }
}

TEST(Reduce, EveryAxisSubsetMatchesNaiveReference) {
  const Shape shape = {3, 4, 5, 2};
  const auto x = random_f(shape_numel(shape), 7, 0.1f, 2.f);
  const std::vector<std::string> ops = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                        "ReduceL1",  "ReduceL2",   "ReduceSumSquare", "ReduceLogSumExp"};
  with_threads([&] {
    for (int mask = 1; mask < 16; ++mask) {
      for (int keep : {0, 1}) {
        std::vector<int64_t> axes;
        Shape ys;
        for (int i = 0; i < 4; ++i) {
          if (mask >> i & 1) {
            axes.push_back(i - (i % 2 ? 4 : 0));  // mix negative and positive axes
            if (keep) ys.push_back(1);
          } else {
            ys.push_back(shape[i]);
          }
        }
        for (const auto& op : ops) {
          SCOPED_TRACE(op + " mask " + std::to_string(mask) + " keepdims " + std::to_string(keep));
          // Naive: every element to its output slot.
          const int64_t n_out = shape_numel(ys);
          std::vector<double> sum(n_out, 0), sq(n_out, 0), ab(n_out, 0), ex(n_out, 0);
          std::vector<double> mx(n_out, -1e300), mn(n_out, 1e300);
          std::vector<int64_t> cnt(n_out, 0);
          for (int64_t i = 0; i < shape_numel(shape); ++i) {
            int64_t r = i, o = 0, ostride = 1;
            for (int d = 3; d >= 0; --d) {
              const int64_t c = r % shape[d];
              r /= shape[d];
              if (!(mask >> d & 1)) o += c * ostride, ostride *= shape[d];
            }
            const double v = x[i];
            sum[o] += v, sq[o] += v * v, ab[o] += std::fabs(v), ex[o] += std::exp(v);
            mx[o] = std::max(mx[o], v), mn[o] = std::min(mn[o], v), ++cnt[o];
          }
          std::vector<float> want(n_out);
          for (int64_t o = 0; o < n_out; ++o) {
            double w = 0;
            if (op == "ReduceSum") w = sum[o];
            else if (op == "ReduceMean") w = sum[o] / static_cast<double>(cnt[o]);
            else if (op == "ReduceMax") w = mx[o];
            else if (op == "ReduceMin") w = mn[o];
            else if (op == "ReduceL1") w = ab[o];
            else if (op == "ReduceL2") w = std::sqrt(sq[o]);
            else if (op == "ReduceSumSquare") w = sq[o];
            else w = std::log(ex[o]);
            want[o] = static_cast<float>(w);
          }
          OpTester t(op, 13);
          t.attr("keepdims", static_cast<int64_t>(keep));
          t.input<float>("X", shape, x);
          if (op == "ReduceSum") t.input<int64_t>("axes", {static_cast<int64_t>(axes.size())}, axes);
          else t.attr("axes", axes);
          t.output<float>("Y", ys, want);
          t.tolerance(1e-5, 1e-5);
          t.run();
        }
      }
    }
  });
}

TEST(ArgMax, SelectLastIndexAndKeepdims) {
  const std::vector<float> x = {1, 3, 3, 2, 2, 1};
  {
    OpTester t("ArgMax", 13);
    t.attr("axis", int64_t{1}).attr("keepdims", int64_t{0});
    t.input<float>("X", {2, 3}, x);
    t.output<int64_t>("Y", {2}, {1, 0});
    t.run();
  }
  {
    OpTester t("ArgMax", 13);
    t.attr("axis", int64_t{-1}).attr("keepdims", int64_t{0}).attr("select_last_index", int64_t{1});
    t.input<float>("X", {2, 3}, x);
    t.output<int64_t>("Y", {2}, {2, 1});
    t.run();
  }
  {
    OpTester t("ArgMin", 13);
    t.attr("axis", int64_t{0});
    t.input<float>("X", {2, 3}, x);
    t.output<int64_t>("Y", {1, 3}, {0, 1, 1});
    t.run();
  }
}

// ---- resize ---------------------------------------------------------------------------------

TEST(Resize, LinearAlignCorners2x2To3x3) {
  OpTester t("Resize", 13);
  t.attr("mode", std::string("linear")).attr("coordinate_transformation_mode", std::string("align_corners"));
  t.input<float>("X", {1, 1, 2, 2}, {1, 2, 3, 4});
  t.omitted_input().omitted_input();
  t.input<int64_t>("sizes", {4}, {1, 1, 3, 3}, true);
  t.output<float>("Y", {1, 1, 3, 3}, {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
  t.run();
}

TEST(Resize, NearestRoundPreferCeilVersusFloor) {
  // asymmetric x2: source positions 0, 0.5, 1, 1.5, ...: the ties go up or down.
  for (bool ceil : {true, false}) {
    SCOPED_TRACE(ceil ? "round_prefer_ceil" : "round_prefer_floor");
    OpTester t("Resize", 13);
    t.attr("mode", std::string("nearest"))
        .attr("coordinate_transformation_mode", std::string("asymmetric"))
        .attr("nearest_mode", std::string(ceil ? "round_prefer_ceil" : "round_prefer_floor"));
    t.input<float>("X", {1, 1, 1, 4}, {1, 2, 3, 4});
    t.omitted_input().omitted_input();
    t.input<int64_t>("sizes", {4}, {1, 1, 1, 8}, true);
    if (ceil) t.output<float>("Y", {1, 1, 1, 8}, {1, 2, 2, 3, 3, 4, 4, 4});
    else t.output<float>("Y", {1, 1, 1, 8}, {1, 1, 2, 2, 3, 3, 4, 4});
    t.run();
  }
  // half_pixel /2: source positions 0.5 and 2.5.
  OpTester t("Resize", 13);
  t.attr("mode", std::string("nearest")).attr("nearest_mode", std::string("round_prefer_ceil"));
  t.input<float>("X", {1, 4}, {1, 2, 3, 4});
  t.omitted_input().omitted_input();
  t.input<int64_t>("sizes", {2}, {1, 2});
  t.output<float>("Y", {1, 2}, {2, 4});
  t.run();
}

TEST(Resize, LeadingAxesAndLowRanks) {
  {
    // Rank 1, linear, align_corners: 3 -> 5 samples.
    OpTester t("Resize", 13);
    t.attr("mode", std::string("linear")).attr("coordinate_transformation_mode", std::string("align_corners"));
    t.input<float>("X", {3}, {0, 10, 20});
    t.omitted_input().omitted_input();
    t.input<int64_t>("sizes", {1}, {5}, true);
    t.output<float>("Y", {5}, {0, 5, 10, 15, 20});
    t.run();
  }
  {
    // Rank 3, resizing the first axis (nearest asymmetric x2) and not the others; int32.
    OpTester t("Resize", 13);
    t.attr("mode", std::string("nearest")).attr("coordinate_transformation_mode", std::string("asymmetric"));
    t.input<int32_t>("X", {2, 1, 2}, {1, 2, 3, 4});
    t.omitted_input();
    t.input<float>("scales", {3}, {2, 1, 1}, true);
    t.output<int32_t>("Y", {4, 1, 2}, {1, 2, 1, 2, 3, 4, 3, 4});
    t.run();
  }
  {
    // tf_crop_and_resize: the second output column falls outside the crop.
    OpTester t("Resize", 13);
    t.attr("mode", std::string("linear"))
        .attr("coordinate_transformation_mode", std::string("tf_crop_and_resize"))
        .attr("extrapolation_value", 9.f);
    t.input<float>("X", {1, 2}, {1, 3});
    t.input<float>("roi", {4}, {0, 0.5f, 1, 1.5f}, true);
    t.omitted_input();
    t.input<int64_t>("sizes", {2}, {1, 2}, true);
    // Row 0.5 * (0 + 1) * 0 = 0; columns 0.5 and 1.5 (outside [0, 1]).
    t.output<float>("Y", {1, 2}, {2, 9});
    t.run();
  }
}

TEST(Resize, UpsampleOpset9Nearest) {
  OpTester t("Upsample", 9);
  t.attr("mode", std::string("nearest"));
  t.input<float>("X", {1, 1, 2, 2}, {1, 2, 3, 4});
  t.input<float>("scales", {4}, {1, 1, 2, 3}, true);
  t.output<float>("Y", {1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  t.run();
}

// Direct 2-D bilinear / nearest on [N, C, H, W] with the ONNX coordinate formulas.
std::vector<float> naive_resize(const std::vector<float>& x, const Shape& xs, int64_t oh, int64_t ow,
                                const std::string& mode, const std::string& coord) {
  const int64_t nc = xs[0] * xs[1], ih = xs[2], iw = xs[3];
  auto src = [&](int64_t o, int64_t in, int64_t out) {
    const double s = static_cast<double>(out) / static_cast<double>(in);
    if (coord == "half_pixel") return (o + 0.5) / s - 0.5;
    if (coord == "pytorch_half_pixel") return out > 1 ? (o + 0.5) / s - 0.5 : 0.0;
    if (coord == "align_corners") return out == 1 ? 0.0 : o * static_cast<double>(in - 1) / static_cast<double>(out - 1);
    return o / s;  // asymmetric
  };
  auto clampi = [](int64_t v, int64_t n) { return std::min<int64_t>(std::max<int64_t>(v, 0), n - 1); };
  std::vector<float> y(nc * oh * ow);
  for (int64_t c = 0; c < nc; ++c)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const double sy = src(i, ih, oh), sx = src(j, iw, ow);
        const float* p = &x[c * ih * iw];
        float v;
        if (mode == "nearest") {  // round_prefer_floor
          auto rnd = [](double t) { return t - std::floor(t) <= 0.5 ? std::floor(t) : std::floor(t) + 1; };
          v = p[clampi(static_cast<int64_t>(rnd(sy)), ih) * iw + clampi(static_cast<int64_t>(rnd(sx)), iw)];
        } else {
          const double fy = std::floor(sy), fx = std::floor(sx), dy = sy - fy, dx = sx - fx;
          const int64_t y0 = clampi(static_cast<int64_t>(fy), ih), y1 = clampi(static_cast<int64_t>(fy) + 1, ih);
          const int64_t x0 = clampi(static_cast<int64_t>(fx), iw), x1 = clampi(static_cast<int64_t>(fx) + 1, iw);
          v = static_cast<float>((1 - dy) * ((1 - dx) * p[y0 * iw + x0] + dx * p[y0 * iw + x1]) +
                                 dy * ((1 - dx) * p[y1 * iw + x0] + dx * p[y1 * iw + x1]));
        }
        y[(c * oh + i) * ow + j] = v;
      }
  return y;
}

TEST(Resize, SeparableMatchesNaive2D) {
  const Shape xs = {2, 3, 5, 7};
  const auto x = random_f(shape_numel(xs), 11);
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{10, 14}, {9, 4}, {40, 56}, {1, 3}, {5, 21}};
  with_threads([&] {
    for (const std::string mode : {"linear", "nearest"})
      for (const std::string coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"})
        for (auto [oh, ow] : sizes) {
          SCOPED_TRACE(mode + " " + coord + " " + std::to_string(oh) + "x" + std::to_string(ow));
          OpTester t("Resize", 13);
          t.attr("mode", mode).attr("coordinate_transformation_mode", coord);
          t.input<float>("X", xs, x);
          t.omitted_input().omitted_input();
          t.input<int64_t>("sizes", {4}, {2, 3, oh, ow}, true);
          t.output<float>("Y", {2, 3, oh, ow}, naive_resize(x, xs, oh, ow, mode, coord));
          t.tolerance(1e-5, 1e-5);
          t.run();
        }
  });
}

}  // namespace
}  // namespace dpl::test

namespace dpl::test {
namespace {

// Larger tensors, so the kernels split their loops across threads, against naive
// references computed here.
TEST(NnOps, ParallelPathsMatchNaiveReferences) {
  const Shape xs = {2, 16, 40, 40};
  const int64_t n = xs[0], c = xs[1], sp = xs[2] * xs[3];
  const auto x = random_f(shape_numel(xs), 5);
  const auto s = random_f(c, 6), b = random_f(c, 7), m = random_f(c, 8), v = random_f(c, 9, 0.5f, 2.f);
  std::vector<float> bn(x.size()), gap(n * c), inorm(x.size()), sm(x.size()), ln(x.size());
  std::vector<int64_t> am(n * sp);
  for (int64_t i = 0; i < n * c; ++i) {
    const int64_t ch = i % c;
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < sp; ++j) sum += x[i * sp + j];
    const double mean = sum / sp;
    for (int64_t j = 0; j < sp; ++j) sq += (x[i * sp + j] - mean) * (x[i * sp + j] - mean);
    const double sd = std::sqrt(sq / sp + 1e-5);
    gap[i] = static_cast<float>(mean);
    for (int64_t j = 0; j < sp; ++j) {
      const float xv = x[i * sp + j];
      bn[i * sp + j] = (xv - m[ch]) / std::sqrt(v[ch] + 1e-5f) * s[ch] + b[ch];
      inorm[i * sp + j] = static_cast<float>((xv - mean) / sd * s[ch] + b[ch]);
    }
  }
  // Softmax over the channel axis (opset 13, axis 1) and ArgMax over it.
  for (int64_t bi = 0; bi < n; ++bi)
    for (int64_t j = 0; j < sp; ++j) {
      double mx = -1e30, den = 0;
      int64_t arg = 0;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float xv = x[(bi * c + ch) * sp + j];
        if (xv > mx) mx = xv, arg = ch;
      }
      for (int64_t ch = 0; ch < c; ++ch) den += std::exp(x[(bi * c + ch) * sp + j] - mx);
      for (int64_t ch = 0; ch < c; ++ch)
        sm[(bi * c + ch) * sp + j] = static_cast<float>(std::exp(x[(bi * c + ch) * sp + j] - mx) / den);
      am[bi * sp + j] = arg;
    }
  // LayerNormalization over the last two axes, no scale/bias variation.
  for (int64_t r = 0; r < n * c; ++r) {
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < sp; ++j) sum += x[r * sp + j];
    const double mean = sum / sp;
    for (int64_t j = 0; j < sp; ++j) sq += (x[r * sp + j] - mean) * (x[r * sp + j] - mean);
    const double inv = 1.0 / std::sqrt(sq / sp + 1e-5);
    for (int64_t j = 0; j < sp; ++j) ln[r * sp + j] = static_cast<float>((x[r * sp + j] - mean) * inv);
  }
  with_threads([&] {
    {
      OpTester t("BatchNormalization");
      t.input<float>("X", xs, x).input<float>("s", {c}, s, true).input<float>("b", {c}, b, true);
      t.input<float>("m", {c}, m, true).input<float>("v", {c}, v, true);
      t.output<float>("Y", xs, bn).tolerance(1e-5, 1e-5);
      t.run();
    }
    {
      OpTester t("GlobalAveragePool");
      t.input<float>("X", xs, x).output<float>("Y", {n, c, 1, 1}, gap).tolerance(1e-5, 1e-5);
      t.run();
    }
    {
      OpTester t("InstanceNormalization");
      t.input<float>("X", xs, x).input<float>("s", {c}, s).input<float>("b", {c}, b);
      t.output<float>("Y", xs, inorm).tolerance(1e-4, 1e-4);
      t.run();
    }
    {
      OpTester t("Softmax", 13);
      t.attr("axis", int64_t{1}).input<float>("X", xs, x).output<float>("Y", xs, sm).tolerance(1e-5, 1e-6);
      t.run();
    }
    {
      OpTester t("ArgMax", 13);
      t.attr("axis", int64_t{1}).attr("keepdims", int64_t{0}).input<float>("X", xs, x);
      t.output<int64_t>("Y", {n, xs[2], xs[3]}, am);
      t.run();
    }
    {
      OpTester t("LayerNormalization", 17);
      t.attr("axis", int64_t{-2}).input<float>("X", xs, x).input<float>("W", {xs[2], 1}, std::vector<float>(xs[2], 1.f));
      t.output<float>("Y", xs, ln).tolerance(1e-4, 1e-4);
      t.run();
    }
  });
}

}  // namespace
}  // namespace dpl::test
