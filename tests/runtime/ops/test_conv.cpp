// Conv and ConvTranspose against naive reference loops written here, plus ConvKernel's
// paths (oneDNN in both layouts, direct depthwise, GEMM deconvolution) with fused post-ops
// and the per-shape primitive cache.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/ops/dnnl_test_util.h"
#include "runtime/op_tester.h"
#include "runtime/ops/conv_kernel.h"
#include "runtime/parallel.h"
#include "tensor_compare.h"

namespace dpl::test {
namespace {

struct RefConv {
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads_begin;  // per spatial axis
  // ConvTranspose: output spatial size (pads_end is implied).
  std::vector<int64_t> out;
};

// Spatial ranks 1-3, treated as 3-D with unit leading dims.
struct Dims3 {
  int64_t v[3] = {1, 1, 1};
};
Dims3 dims3(const std::vector<int64_t>& s, int64_t fill = 1) {
  Dims3 d;
  for (int i = 0; i < 3; ++i) d.v[i] = fill;
  const int off = 3 - static_cast<int>(s.size());
  for (size_t i = 0; i < s.size(); ++i) d.v[off + i] = s[i];
  return d;
}

// Direct convolution: y[n, m, o] = b[m] + sum x[n, g*Cg + c, o*s - p + k*d] * w[m, c, k].
Tensor conv_ref(const Tensor& x, const Tensor& w, const Tensor* b, const RefConv& r, const std::vector<int64_t>& pads_end) {
  const int nsp = x.rank() - 2;
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), G = r.group, Cg = C / G, Mg = M / G;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end()), k(w.shape().begin() + 2, w.shape().end()), out(nsp);
  for (int i = 0; i < nsp; ++i)
    out[i] = (in[i] + r.pads_begin[i] + pads_end[i] - (k[i] - 1) * r.dilations[i] - 1) / r.strides[i] + 1;
  Shape ys{N, M};
  ys.insert(ys.end(), out.begin(), out.end());
  Tensor y(DType::F32, ys);
  Dims3 I = dims3(in), K = dims3(k), O = dims3(out), S = dims3(r.strides), D = dims3(r.dilations),
        P = dims3(r.pads_begin, 0);
  const int64_t isz = I.v[0] * I.v[1] * I.v[2], ksz = K.v[0] * K.v[1] * K.v[2], osz = O.v[0] * O.v[1] * O.v[2];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o = 0; o < osz; ++o) {
        const int64_t o0 = o / (O.v[1] * O.v[2]), o1 = o / O.v[2] % O.v[1], o2 = o % O.v[2];
        double acc = b ? b->data<float>()[m] : 0.0;
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t kk = 0; kk < ksz; ++kk) {
            const int64_t k0 = kk / (K.v[1] * K.v[2]), k1 = kk / K.v[2] % K.v[1], k2 = kk % K.v[2];
            const int64_t i0 = o0 * S.v[0] - P.v[0] + k0 * D.v[0], i1 = o1 * S.v[1] - P.v[1] + k1 * D.v[1],
                          i2 = o2 * S.v[2] - P.v[2] + k2 * D.v[2];
            if (i0 < 0 || i0 >= I.v[0] || i1 < 0 || i1 >= I.v[1] || i2 < 0 || i2 >= I.v[2]) continue;
            const float xv = x.data<float>()[(n * C + (m / Mg) * Cg + c) * isz + (i0 * I.v[1] + i1) * I.v[2] + i2];
            const float wv = w.data<float>()[(m * Cg + c) * ksz + kk];
            acc += static_cast<double>(xv) * wv;
          }
        y.data<float>()[(n * M + m) * osz + o] = static_cast<float>(acc);
      }
  return y;
}

// Transposed convolution by scattering: full[n, m, i*s + k*d] += x[n, c, i] * w[c, m, k];
// y[j] = full[j + pads_begin] (0 outside) + b[m].
Tensor deconv_ref(const Tensor& x, const Tensor& w, const Tensor* b, const RefConv& r) {
  const int nsp = x.rank() - 2;
  const int64_t N = x.dim(0), C = x.dim(1), G = r.group, Cg = C / G, Mg = w.dim(1), M = Mg * G;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end()), k(w.shape().begin() + 2, w.shape().end()), full(nsp);
  for (int i = 0; i < nsp; ++i) full[i] = r.strides[i] * (in[i] - 1) + (k[i] - 1) * r.dilations[i] + 1;
  Dims3 I = dims3(in), K = dims3(k), F = dims3(full), S = dims3(r.strides), D = dims3(r.dilations), O = dims3(r.out),
        P = dims3(r.pads_begin, 0);
  const int64_t isz = I.v[0] * I.v[1] * I.v[2], ksz = K.v[0] * K.v[1] * K.v[2], fsz = F.v[0] * F.v[1] * F.v[2],
                osz = O.v[0] * O.v[1] * O.v[2];
  Shape ys{N, M};
  ys.insert(ys.end(), r.out.begin(), r.out.end());
  Tensor y(DType::F32, ys);
  std::vector<double> acc(static_cast<size_t>(fsz));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const int64_t g = m / Mg;
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t i = 0; i < isz; ++i)
          for (int64_t kk = 0; kk < ksz; ++kk) {
            const int64_t i0 = i / (I.v[1] * I.v[2]), i1 = i / I.v[2] % I.v[1], i2 = i % I.v[2];
            const int64_t k0 = kk / (K.v[1] * K.v[2]), k1 = kk / K.v[2] % K.v[1], k2 = kk % K.v[2];
            const int64_t f0 = i0 * S.v[0] + k0 * D.v[0], f1 = i1 * S.v[1] + k1 * D.v[1], f2 = i2 * S.v[2] + k2 * D.v[2];
            const float xv = x.data<float>()[(n * C + g * Cg + c) * isz + i];
            const float wv = w.data<float>()[((g * Cg + c) * Mg + m % Mg) * ksz + kk];
            acc[(f0 * F.v[1] + f1) * F.v[2] + f2] += static_cast<double>(xv) * wv;
          }
      for (int64_t o = 0; o < osz; ++o) {
        const int64_t f0 = o / (O.v[1] * O.v[2]) + P.v[0], f1 = o / O.v[2] % O.v[1] + P.v[1], f2 = o % O.v[2] + P.v[2];
        double v = b ? b->data<float>()[m] : 0.0;
        if (f0 >= 0 && f0 < F.v[0] && f1 >= 0 && f1 < F.v[1] && f2 >= 0 && f2 < F.v[2])
          v += acc[(f0 * F.v[1] + f1) * F.v[2] + f2];
        y.data<float>()[(n * M + m) * osz + o] = static_cast<float>(v);
      }
    }
  return y;
}

Tensor run1(const OnnxGraph& g, const TensorMap& feeds, int threads = 1) {
  SessionOptions o;
  o.threads = threads;
  Session s(g, o);
  return s.run(feeds).at("Y");
}

TEST(Conv, GroupedDilatedPaddedMatchesReference) {
  Tensor x = random_f32({2, 6, 9, 11}, 1), w = random_f32({4, 3, 3, 2}, 2), b = random_f32({4}, 3);
  RefConv r{2, {2, 1}, {2, 3}, {1, 2}, {}};
  Tensor want = conv_ref(x, w, &b, r, {0, 1});
  ASSERT_EQ(want.shape(), (Shape{2, 4, 3, 11}));
  for (bool const_w : {true, false}) {
    SCOPED_TRACE(const_w ? "constant weights" : "run-time weights");
    OneNodeModel m("Conv");
    m.attr_i("group", 2).attr_ints("strides", {2, 1}).attr_ints("dilations", {2, 3}).attr_ints("pads", {1, 2, 0, 1});
    m.input("X", x);
    if (const_w) m.init("W", w).init("B", b);
    else m.input("W", w).input("B", b);
    m.output("Y", DType::F32);
    TensorMap feeds{{"X", x}};
    if (!const_w) feeds["W"] = w, feeds["B"] = b;
    expect_tensor_near(run1(m.graph(), feeds), want, 1e-4, 1e-5);
    expect_tensor_near(run1(m.graph(), feeds, 2), want, 1e-4, 1e-5);
  }
}

TEST(Conv, DepthwiseStridedMatchesReference) {
  Tensor x = random_f32({1, 32, 17, 15}, 4), w = random_f32({32, 1, 3, 3}, 5), b = random_f32({32}, 6);
  RefConv r{32, {2, 2}, {1, 1}, {1, 1}, {}};
  Tensor want = conv_ref(x, w, &b, r, {1, 1});
  OneNodeModel m("Conv");
  m.attr_i("group", 32).attr_ints("strides", {2, 2}).attr_ints("pads", {1, 1, 1, 1}).attr_ints("kernel_shape", {3, 3});
  m.input("X", x).init("W", w).init("B", b).output("Y", DType::F32);
  expect_tensor_near(run1(m.graph(), {{"X", x}}), want, 1e-4, 1e-5);
}

TEST(Conv, OneAndThreeDimensional) {
  {
    Tensor x = random_f32({2, 3, 20}, 7), w = random_f32({5, 3, 4}, 8);
    RefConv r{1, {3}, {2}, {2}, {}};
    Tensor want = conv_ref(x, w, nullptr, r, {1});
    OneNodeModel m("Conv");
    m.attr_ints("strides", {3}).attr_ints("dilations", {2}).attr_ints("pads", {2, 1});
    m.input("X", x).init("W", w).output("Y", DType::F32);
    expect_tensor_near(run1(m.graph(), {{"X", x}}), want, 1e-4, 1e-5);
  }
  {
    Tensor x = random_f32({1, 4, 5, 6, 7}, 9), w = random_f32({6, 2, 2, 3, 3}, 10), b = random_f32({6}, 11);
    RefConv r{2, {1, 2, 1}, {1, 1, 2}, {0, 1, 1}, {}};
    Tensor want = conv_ref(x, w, &b, r, {1, 0, 1});
    OneNodeModel m("Conv");
    m.attr_i("group", 2).attr_ints("strides", {1, 2, 1}).attr_ints("dilations", {1, 1, 2});
    m.attr_ints("pads", {0, 1, 1, 1, 0, 1});
    m.input("X", x).input("W", w).input("B", b).output("Y", DType::F32);
    expect_tensor_near(run1(m.graph(), {{"X", x}, {"W", w}, {"B", b}}), want, 1e-4, 1e-5);
  }
}

TEST(Conv, AutoPadSameLowerAndUpper) {
  // in 4, kernel 2, stride 1: total pad 1. SAME_LOWER pads the beginning: [0,1,2,3,4] windows
  // (0+1, 1+2, 2+3, 3+4); SAME_UPPER pads the end: (1+2, 2+3, 3+4, 4+0).
  for (auto [mode, want] : {std::pair<std::string, std::vector<float>>{"SAME_LOWER", {1, 3, 5, 7}},
                            {"SAME_UPPER", {3, 5, 7, 4}}}) {
    OpTester t("Conv");
    t.attr("auto_pad", mode);
    t.input<float>("X", {1, 1, 1, 4}, {1, 2, 3, 4});
    t.input<float>("W", {1, 1, 1, 2}, {1, 1}, true);
    t.output<float>("Y", {1, 1, 1, 4}, want);
    t.run();
  }
  // 2-D, stride 2: in 6, k 3 -> out 3, total pad 1 per axis (SAME_LOWER: 1 before, 0 after).
  Tensor x = random_f32({1, 2, 6, 6}, 12), w = random_f32({3, 2, 3, 3}, 13);
  RefConv r{1, {2, 2}, {1, 1}, {1, 1}, {}};
  Tensor want = conv_ref(x, w, nullptr, r, {0, 0});
  OneNodeModel m("Conv");
  m.attr_s("auto_pad", "SAME_LOWER").attr_ints("strides", {2, 2});
  m.input("X", x).init("W", w).output("Y", DType::F32);
  expect_tensor_near(run1(m.graph(), {{"X", x}}), want, 1e-4, 1e-5);
}

TEST(Conv, BatchAndSizeChangeReusesSession) {
  Tensor w = random_f32({8, 4, 3, 3}, 14), b = random_f32({8}, 15);
  Tensor x1 = random_f32({1, 4, 10, 10}, 16), x3 = random_f32({3, 4, 10, 10}, 17), x2 = random_f32({2, 4, 7, 12}, 18);
  OneNodeModel m("Conv");
  m.attr_ints("pads", {1, 1, 1, 1});
  m.input("X", x1).init("W", w).init("B", b).output("Y", DType::F32);
  OnnxGraph g = m.graph();
  Session s(g);
  RefConv r{1, {1, 1}, {1, 1}, {1, 1}, {}};
  for (const Tensor* x : {&x1, &x3, &x1, &x2, &x3}) {
    SCOPED_TRACE(shape_str(x->shape()));
    Tensor y = s.run({{"X", *x}}).at("Y");
    expect_tensor_near(y, conv_ref(*x, w, &b, r, {1, 1}), 1e-4, 1e-5);
  }
}

TEST(Conv, MismatchedChannelsIsAnError) {
  OneNodeModel m("Conv");
  Tensor x = random_f32({1, 3, 5, 5}, 19), w = random_f32({2, 4, 3, 3}, 20);
  m.input("X", x).init("W", w).output("Y", DType::F32);
  OnnxGraph g = m.graph();
  Session s(g);
  EXPECT_THROW(s.run({{"X", x}}), Error);
}

// ConvKernel directly: both activation layouts of the oneDNN path (a 1x1 conv on 81 pixels
// runs blocked, on 144 pixels plain; 3x3 always blocked) and fused post-ops.
TEST(ConvKernel, LayoutsAndPostOpsMatchReference) {
  Tensor b = random_f32({32}, 22);
  for (int64_t k : {1, 3}) {
    Tensor w = random_f32({32, 16, k, k}, 23);
    const int64_t p = k / 2;
    for (int64_t hw : {9, 12}) {
      SCOPED_TRACE("k " + std::to_string(k) + " input " + std::to_string(hw) + "x" + std::to_string(hw));
      Tensor x = random_f32({2, 16, hw, hw}, hw == 9 ? 21 : 45);
      RefConv r{1, {1, 1}, {1, 1}, {p, p}, {}};
      Tensor ref = conv_ref(x, w, &b, r, {p, p});
      Tensor addend = random_f32(ref.shape(), 24);
      ConvParams cp;
      cp.pads = {p, p, p, p};
      cp.has_bias = true;
      {
        ConvKernel kern;
        kern.init(cp, &w, &b);
        expect_tensor_near(kern.run(x, w, &b), ref, 1e-4, 1e-5);
      }
      // relu(conv + addend) then clip to [0, 0.5].
      cp.post_ops = {{PostOp::Kind::BinaryAdd}, {PostOp::Kind::Relu}, {PostOp::Kind::Clip, 0.f, 0.5f}};
      ConvKernel kern;
      kern.init(cp, nullptr, nullptr);
      Tensor want(DType::F32, ref.shape());
      for (int64_t i = 0; i < want.numel(); ++i) {
        const float v = std::max(ref.data<float>()[i] + addend.data<float>()[i], 0.f);
        want.data<float>()[i] = std::min(v, 0.5f);
      }
      expect_tensor_near(kern.run(x, w, &b, {&addend}), want, 1e-4, 1e-5);
      // Swish and sigmoid.
      cp.post_ops = {{PostOp::Kind::Swish, 1.f}, {PostOp::Kind::Sigmoid}};
      ConvKernel k2;
      k2.init(cp, &w, &b);
      for (int64_t i = 0; i < want.numel(); ++i) {
        const float v = ref.data<float>()[i];
        const float sw = v / (1.f + std::exp(-v));
        want.data<float>()[i] = 1.f / (1.f + std::exp(-sw));
      }
      expect_tensor_near(k2.run(x, w, &b), want, 1e-4, 1e-5);
    }
  }
}

// A residual Add fused into a convolution must never run on an implementation that applies
// binary post-ops element by element (oneDNN's GEMM-based and reference convolutions; road
// segmentation's 1x1 convolutions on plain tensors took 100x longer with it): there all the
// post-ops run after the primitive, with the same result. The shapes are the kinds
// of layers the fusion plan creates: 1x1 on plain tensors, 1x1 and 3x3 blocked, with and
// without a preceding activation.
TEST(ConvKernel, ResidualAddNeverOnSlowImplementation) {
  struct Case {
    int64_t c, m, k, hw;
    std::vector<PostOp> post;
  };
  const std::vector<Case> cases = {
      {8, 32, 1, 24, {{PostOp::Kind::BinaryAdd}, {PostOp::Kind::Relu}}},  // plain 1x1 (road segmentation)
      {16, 24, 1, 16, {{PostOp::Kind::Relu}, {PostOp::Kind::BinaryAdd}}},
      {16, 32, 1, 9, {{PostOp::Kind::BinaryAdd}}},                         // blocked 1x1
      {16, 32, 3, 12, {{PostOp::Kind::BinaryAdd}, {PostOp::Kind::Clip, 0.f, 0.5f}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("c " + std::to_string(c.c) + " m " + std::to_string(c.m) + " k " + std::to_string(c.k));
    Tensor x = random_f32({1, c.c, c.hw, c.hw}, 31), w = random_f32({c.m, c.c, c.k, c.k}, 32), b = random_f32({c.m}, 33);
    const int64_t p = c.k / 2;
    Tensor ref = conv_ref(x, w, &b, RefConv{1, {1, 1}, {1, 1}, {p, p}, {}}, {p, p});
    Tensor addend = random_f32(ref.shape(), 34);
    ConvParams cp;
    cp.pads = {p, p, p, p};
    cp.has_bias = true;
    cp.post_ops = c.post;
    ConvKernel kern;
    kern.init(cp, &w, &b);
    const ConvKernel::PrimitiveInfo info = kern.primitive_info(x.shape(), w.shape());
    // oneDNN applies post-ops only on a fast implementation; otherwise all of them are left
    // out of the primitive (rebuilt without them) and run after it.
    const bool slow_impl = info.impl.find("gemm") != std::string::npos || info.impl.find("ref") != std::string::npos;
    // All, none, or those before the residual Add (which moves some layers off their
    // implementation; the activation before it stays in the call).
    size_t before_add = 0;
    while (c.post[before_add].kind != PostOp::Kind::BinaryAdd) ++before_add;
    EXPECT_TRUE(info.onednn_post_ops == 0 || info.onednn_post_ops == c.post.size() ||
                info.onednn_post_ops == before_add)
        << info.onednn_post_ops;
    if (info.onednn_post_ops > 0) {
      EXPECT_FALSE(slow_impl) << info.impl;
    }
    // Plain 1x1 layers run on oneDNN's GEMM-based convolution (conv_onednn.cpp's layout
    // rule): the road segmentation case, which must take the split.
    if (&c == &cases[0]) {
      EXPECT_EQ(info.onednn_post_ops, 0u) << info.impl;
    }
    Tensor want(DType::F32, ref.shape());
    for (int64_t i = 0; i < want.numel(); ++i) {
      float v = ref.data<float>()[i];
      for (const PostOp& op : c.post) {
        if (op.kind == PostOp::Kind::BinaryAdd) v += addend.data<float>()[i];
        if (op.kind == PostOp::Kind::Relu) v = std::max(v, 0.f);
        if (op.kind == PostOp::Kind::Clip) v = std::min(std::max(v, op.alpha), op.beta);
      }
      want.data<float>()[i] = v;
    }
    expect_tensor_near(kern.run(x, w, &b, {&addend}), want, 1e-4, 1e-5);
  }
}

// oneDNN 2.6's JIT convolutions apply a second eltwise post-op of the same algorithm with the
// first one's parameters (two Clips clipped twice to the first's bounds). The kernel keeps
// such a repeat out of the call and runs it after: each activation with its own parameters.
TEST(ConvKernel, SameActivationTwiceKeepsEachOnesParameters) {
  using K = PostOp::Kind;
  const std::vector<std::vector<PostOp>> posts = {
      {{K::Clip, -0.2f, 0.7f}, {K::Clip, 0.f, 0.5f}},
      {{K::HardSigmoid, 0.2f, 0.5f}, {K::Clip, 0.55f, 0.6f}},
      {{K::LeakyRelu, 0.1f}, {K::Relu}},
  };
  for (int64_t k : {1, 3}) {
    for (const auto& post : posts) {
      SCOPED_TRACE("k " + std::to_string(k) + ", first post-op " + post_op_name(post[0].kind));
      Tensor x = random_f32({1, 16, 10, 10}, 41), w = random_f32({32, 16, k, k}, 42), b = random_f32({32}, 43);
      const int64_t p = k / 2;
      Tensor ref = conv_ref(x, w, &b, RefConv{1, {1, 1}, {1, 1}, {p, p}, {}}, {p, p});
      for (int64_t i = 0; i < ref.numel(); ++i) {
        float& v = ref.data<float>()[i];
        for (const PostOp& op : post) {
          if (op.kind == K::Clip) v = std::min(std::max(v, op.alpha), op.beta);
          if (op.kind == K::HardSigmoid) v = std::min(std::max(op.alpha * v + op.beta, 0.f), 1.f);
          if (op.kind == K::LeakyRelu) v = v >= 0.f ? v : op.alpha * v;
          if (op.kind == K::Relu) v = std::max(v, 0.f);
        }
      }
      ConvParams cp;
      cp.pads = {p, p, p, p};
      cp.has_bias = true;
      cp.post_ops = post;
      ConvKernel kern;
      kern.init(cp, &w, &b);
      expect_tensor_near(kern.run(x, w, &b, {}), ref, 1e-4, 1e-5);
      EXPECT_LE(kern.primitive_info(x.shape(), w.shape()).onednn_post_ops, 1u);
    }
  }
}

// Depthwise convolutions with outputs at least 32 wide take a direct NCHW path, narrower
// ones oneDNN; both, with post-ops, must match the reference.
TEST(ConvKernel, DepthwisePathsAndPostOps) {
  for (int64_t k : {3, 5}) {
    for (int64_t s : {1, 2, 3}) {
      // Input width 100: output widths 100, 50, 34, all direct. Width 20: 20, 10, 7, all
      // oneDNN (as in Conv.DepthwiseStridedMatchesReference).
      for (int64_t width : {100, 20}) {
        SCOPED_TRACE("k " + std::to_string(k) + " s " + std::to_string(s) + " width " + std::to_string(width));
        Tensor x = random_f32({2, 12, 11, width}, 26);
        Tensor w = random_f32({12, 1, k, k}, 27), b = random_f32({12}, 28);
        const int64_t p = k / 2;
        RefConv r{12, {s, s}, {1, 1}, {p, p - 1}, {}};
        Tensor ref = conv_ref(x, w, &b, r, {p - 1, p});
        Tensor addend = random_f32(ref.shape(), 29);
        Tensor want(DType::F32, ref.shape());
        for (int64_t i = 0; i < want.numel(); ++i)
          want.data<float>()[i] = std::min(std::max(ref.data<float>()[i] + addend.data<float>()[i], -0.2f), 0.7f);
        ConvParams cp;
        cp.group = 12;
        cp.strides = {s, s};
        cp.pads = {p, p - 1, p - 1, p};
        cp.has_bias = true;
        ConvKernel plain;
        plain.init(cp, &w, &b);
        expect_tensor_near(plain.run(x, w, &b), ref, 1e-4, 1e-5);
        cp.post_ops = {{PostOp::Kind::BinaryAdd}, {PostOp::Kind::Clip, -0.2f, 0.7f}};
        ConvKernel fused;
        fused.init(cp, nullptr, nullptr);
        expect_tensor_near(fused.run(x, w, &b, {&addend}), want, 1e-4, 1e-5);
      }
    }
  }
}

// ConvTranspose runs as GEMM + col2im for group 1 (2-D) and on oneDNN for group 2; both,
// with post-ops, must match the reference.
TEST(ConvKernel, TransposedPathsAndPostOps) {
  for (int64_t group : {1, 2}) {
    SCOPED_TRACE("group " + std::to_string(group));
    const int64_t C = group == 1 ? 5 : 6;
    Tensor x = random_f32({2, C, 6, 7}, 40), w = random_f32({C, 3, 3, 4}, 41), b = random_f32({3 * group}, 42);
    // H: 2*5 + 2*2 + 1 + output_padding 1 - pads (1, 1) = 14; W: 3*6 + 3 + 1 - pads (2, 1) = 19.
    RefConv r{group, {2, 3}, {2, 1}, {1, 2}, {14, 19}};
    Tensor ref = deconv_ref(x, w, &b, r);
    Tensor addend = random_f32(ref.shape(), 43);
    Tensor want(DType::F32, ref.shape());
    for (int64_t i = 0; i < want.numel(); ++i)
      want.data<float>()[i] = std::max(ref.data<float>()[i] + addend.data<float>()[i], 0.f);
    ConvParams cp;
    cp.transposed = true;
    cp.group = group;
    cp.strides = {2, 3};
    cp.dilations = {2, 1};
    cp.pads = {1, 2, 1, 1};
    cp.output_padding = {1, 0};
    cp.has_bias = true;
    ConvKernel plain;
    plain.init(cp, &w, &b);
    expect_tensor_near(plain.run(x, w, &b), ref, 1e-4, 1e-5);
    expect_tensor_near(plain.run(x.slice_rows(1, 1), w, &b), ref.slice_rows(1, 1), 1e-4, 1e-5);
    cp.post_ops = {{PostOp::Kind::BinaryAdd}, {PostOp::Kind::Relu}};
    ConvKernel fused;
    fused.init(cp, nullptr, nullptr);
    expect_tensor_near(fused.run(x, w, &b, {&addend}), want, 1e-4, 1e-5);
  }
}

TEST(ConvTranspose, OutputShapeLargerThanNatural) {
  // Natural size 2*(3-1)+3 = 7; output_shape 8 extends the end (bias only there).
  Tensor x = random_f32({1, 2, 3, 3}, 30), w = random_f32({2, 3, 3, 3}, 31), b = random_f32({3}, 32);
  RefConv r{1, {2, 2}, {1, 1}, {0, 0}, {8, 8}};
  Tensor want = deconv_ref(x, w, &b, r);
  OneNodeModel m("ConvTranspose");
  m.attr_ints("strides", {2, 2}).attr_ints("output_shape", {8, 8});
  m.input("X", x).init("W", w).init("B", b).output("Y", DType::F32);
  expect_tensor_near(run1(m.graph(), {{"X", x}}), want, 1e-4, 1e-5);
}

TEST(ConvTranspose, OutputShapeSmallerThanNatural) {
  // output_shape below the natural size crops: an odd total pad goes to the start (NOTSET)
  // or to the end (SAME_UPPER).
  Tensor x = random_f32({2, 4, 3, 4}, 33), w = random_f32({4, 2, 3, 2}, 34), b = random_f32({4}, 35);
  // group 2: M = 2 * 2 = 4. H: full = 2*2 + 3 = 7, want 6 -> total 1. W: full = 2*3 + 2 = 8, want 8 -> total 0.
  {
    RefConv r{2, {2, 2}, {1, 1}, {1, 0}, {6, 8}};
    Tensor want = deconv_ref(x, w, &b, r);
    OneNodeModel m("ConvTranspose");
    m.attr_i("group", 2).attr_ints("strides", {2, 2}).attr_ints("output_shape", {6, 8});
    m.input("X", x).input("W", w).input("B", b).output("Y", DType::F32);
    expect_tensor_near(run1(m.graph(), {{"X", x}, {"W", w}, {"B", b}}), want, 1e-4, 1e-5);
  }
  {
    RefConv r{2, {2, 2}, {1, 1}, {0, 0}, {6, 8}};
    Tensor want = deconv_ref(x, w, &b, r);
    OneNodeModel m("ConvTranspose");
    m.attr_i("group", 2).attr_ints("strides", {2, 2}).attr_ints("output_shape", {6, 8}).attr_s("auto_pad", "SAME_UPPER");
    m.input("X", x).init("W", w).init("B", b).output("Y", DType::F32);
    expect_tensor_near(run1(m.graph(), {{"X", x}}), want, 1e-4, 1e-5);
  }
}

TEST(ConvTranspose, PadsDilationsOutputPadding) {
  Tensor x = random_f32({1, 3, 5, 4}, 36), w = random_f32({3, 2, 3, 3}, 37);
  // H: full = 2*4 + 2*2 + 1 = 13, + output_padding 1 - pads (1, 2) = 11.
  // W: full = 3*3 + 2 + 1 = 12, + 2 - pads (0, 1) = 13.
  RefConv r{1, {2, 3}, {2, 1}, {1, 0}, {11, 13}};
  Tensor want = deconv_ref(x, w, nullptr, r);
  OneNodeModel m("ConvTranspose");
  m.attr_ints("strides", {2, 3}).attr_ints("dilations", {2, 1}).attr_ints("pads", {1, 0, 2, 1});
  m.attr_ints("output_padding", {1, 2});
  m.input("X", x).init("W", w).output("Y", DType::F32);
  expect_tensor_near(run1(m.graph(), {{"X", x}}), want, 1e-4, 1e-5);
}

}  // namespace
}  // namespace dpl::test
