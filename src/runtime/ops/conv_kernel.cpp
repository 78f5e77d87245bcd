#include "runtime/ops/conv_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "runtime/parallel.h"

namespace dpl {

using dnn::Dims;
using dnn::memory;

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

std::vector<int64_t> attr_or(const std::vector<int64_t>& v, size_t n, int64_t dflt, const char* name,
                             const std::string& op) {
  if (v.empty()) return std::vector<int64_t>(n, dflt);
  DPL_CHECK(v.size() == n, "{}: attribute {} has {} values, expected {}", op, name, v.size(), n);
  return v;
}

}  // namespace

ConvGeometry conv_geometry(const ConvParams& p, const Shape& x, const Shape& w) {
  const std::string& op = p.op_name;
  ConvGeometry g;
  DPL_CHECK(x.size() >= 3, "{}: input X must have rank >= 3 (N, C, spatial...), got shape {}", op, shape_str(x));
  DPL_CHECK(w.size() == x.size(), "{}: weights W have shape {}, expected rank {} to match X {}", op, shape_str(w),
            x.size(), shape_str(x));
  g.nsp = static_cast<int>(x.size()) - 2;
  DPL_CHECK(g.nsp <= 3, "{}: {}-D convolutions are not supported (1-D to 3-D are)", op, g.nsp);
  const size_t n = static_cast<size_t>(g.nsp);
  g.N = x[0];
  g.C = x[1];
  g.G = p.group;
  DPL_CHECK(g.G >= 1, "{}: group must be >= 1, got {}", op, g.G);
  DPL_CHECK(g.C % g.G == 0, "{}: input channels {} not divisible by group {}", op, g.C, g.G);
  if (!p.transposed) {
    g.M = w[0];
    DPL_CHECK(w[1] * g.G == g.C, "{}: weights {} expect {} input channels (W[1] * group), X {} has {}", op,
              shape_str(w), w[1] * g.G, shape_str(x), g.C);
    DPL_CHECK(g.M % g.G == 0, "{}: output channels {} not divisible by group {}", op, g.M, g.G);
  } else {
    DPL_CHECK(w[0] == g.C, "{}: weights {} expect {} input channels (W[0]), X {} has {}", op, shape_str(w), w[0],
              shape_str(x), g.C);
    g.M = w[1] * g.G;
  }
  g.in.assign(x.begin() + 2, x.end());
  g.kernel.assign(w.begin() + 2, w.end());
  if (!p.kernel_shape.empty()) {
    DPL_CHECK(p.kernel_shape == g.kernel, "{}: kernel_shape [{}] does not match weights {}", op,
              fmt::join(p.kernel_shape, ","), shape_str(w));
  }
  g.strides = attr_or(p.strides, n, 1, "strides", op);
  g.dilations = attr_or(p.dilations, n, 1, "dilations", op);
  std::vector<int64_t> pads = attr_or(p.pads, 2 * n, 0, "pads", op);
  for (size_t i = 0; i < n; ++i) {
    DPL_CHECK(g.strides[i] >= 1 && g.dilations[i] >= 1, "{}: strides and dilations must be >= 1", op);
    DPL_CHECK(g.kernel[i] >= 1, "{}: empty kernel in weights {}", op, shape_str(w));
  }
  const std::string& ap = p.auto_pad;
  DPL_CHECK(ap == "NOTSET" || ap == "SAME_UPPER" || ap == "SAME_LOWER" || ap == "VALID",
            "{}: unknown auto_pad '{}'", op, ap);
  g.pads_begin.resize(n);
  g.pads_end.resize(n);
  g.out.resize(n);
  if (!p.transposed) {
    for (size_t i = 0; i < n; ++i) {
      const int64_t in = g.in[i], s = g.strides[i], dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
      int64_t pb = 0, pe = 0;
      if (ap == "NOTSET") {
        pb = pads[i];
        pe = pads[i + n];
        DPL_CHECK(pb >= 0 && pe >= 0, "{}: negative pads are not supported", op);
      } else if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
        const int64_t out = (in + s - 1) / s;
        const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
        pb = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
        pe = total - pb;
      }
      DPL_CHECK(in + pb + pe >= dk, "{}: input {} with pads is smaller than the (dilated) kernel {}", op,
                shape_str(x), shape_str(w));
      g.pads_begin[i] = pb;
      g.pads_end[i] = pe;
      g.out[i] = (in + pb + pe - dk) / s + 1;
    }
    g.prim_out = g.out;
    g.out_offset.assign(n, 0);
  } else {
    std::vector<int64_t> opad = attr_or(p.output_padding, n, 0, "output_padding", op);
    std::vector<int64_t> oshape;
    if (!p.output_shape.empty()) {
      // Spatial sizes; a full N, C, spatial... form is accepted too.
      DPL_CHECK(p.output_shape.size() == n || p.output_shape.size() == n + 2,
                "{}: output_shape has {} values, expected {}", op, p.output_shape.size(), n);
      oshape.assign(p.output_shape.end() - static_cast<long>(n), p.output_shape.end());
    }
    g.prim_out.resize(n);
    g.out_offset.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t in = g.in[i], s = g.strides[i], dk = (g.kernel[i] - 1) * g.dilations[i] + 1;
      const int64_t full = s * (in - 1) + dk;  // natural size before padding / output_padding
      int64_t pb = 0, pe = 0, out = 0;
      if (!oshape.empty() || ap == "SAME_UPPER" || ap == "SAME_LOWER") {
        out = !oshape.empty() ? oshape[i] : in * s;
        const int64_t total = full + opad[i] - out;
        // ONNX: SAME_UPPER puts the odd pad at the end, otherwise at the beginning. A negative
        // total (output larger than natural) extends the end.
        if (ap == "SAME_UPPER") {
          pb = floor_div(total, 2);
          pe = total - pb;
        } else {
          pe = floor_div(total, 2);
          pb = total - pe;
        }
      } else if (ap == "VALID") {
        out = full + opad[i];
      } else {
        pb = pads[i];
        pe = pads[i + n];
        out = full + opad[i] - pb - pe;
      }
      DPL_CHECK(out >= 1, "{}: output size would be {} along spatial axis {}", op, out, i);
      g.pads_begin[i] = pb;
      g.pads_end[i] = pe;
      g.out[i] = out;
      // The primitive computes full[pb' .. full - pr') with pads clamped at 0.
      const int64_t pr = full - pb - out;  // end crop of the natural output (output_padding folded in)
      const int64_t pbc = std::max<int64_t>(pb, 0), prc = std::max<int64_t>(pr, 0);
      g.prim_out[i] = full - pbc - prc;
      g.out_offset[i] = pbc - pb;
      if (pb < 0 || pr < 0) g.needs_expand = true;
      DPL_CHECK(g.prim_out[i] >= 1, "{}: pads crop the whole output along spatial axis {}", op, i);
    }
  }
  g.y_shape = {g.N, g.M};
  g.y_shape.insert(g.y_shape.end(), g.out.begin(), g.out.end());
  return g;
}

struct ConvKernel::Entry {
  Shape x_shape, w_shape;
  int threads = 1;
  memory::desc src_hint, dst_hint;
  ConvGeometry g;
  memory::desc user_src_md, user_dst_md, user_wei_md, bias_md;
  memory::desc src_md, dst_md, wei_md;
  dnnl::primitive prim;
  std::vector<memory::desc> binary_mds;
  std::vector<int> binary_po_index;  // position of each binary post-op in oneDNN's list
  bool reorder_src = false, reorder_dst = false;
  dnnl::reorder src_r, dst_r, wei_r;
  memory packed_w;  // constant weights in wei_md
};

const memory::desc& ConvKernel::entry_src_desc(const Entry& e) { return e.src_md; }
const memory::desc& ConvKernel::entry_dst_desc(const Entry& e) { return e.dst_md; }
const ConvGeometry& ConvKernel::entry_geometry(const Entry& e) { return e.g; }

ConvKernel::ConvKernel() = default;
ConvKernel::~ConvKernel() = default;

void ConvKernel::init(ConvParams p, const Tensor* const_w, const Tensor* const_b) {
  p_ = std::move(p);
  has_const_w_ = const_w != nullptr;
  has_const_b_ = const_b != nullptr;
  if (const_w) const_w_ = *const_w;
  if (const_b) const_b_ = *const_b;
  cache_.clear();
  packed_w_.clear();
}

namespace {

// Plain NCHW src/dst (oneDNN's gemm:jit, no reorders) or blocked (oneDNN picks nhwc /
// nChw16c for brgconv, with reorders from/to NCHW around it)? Measured with ConvKernel::run on
// plain tensors (reorders included), oneDNN 2.6, AVX-512 (Sapphire Rapids), 1 thread, best of
// 15 interleaved runs; ms (GFLOP/s):
//   1x1 64->256 56x56      plain 0.73 (142)  blocked 1.06 (97)
//   1x1 256->64 56x56      plain 0.59 (174)  blocked 1.01 (102)
//   1x1 256->512 56x56 s2  plain 1.59 (129)  blocked 1.66 (124)
//   1x1 512->128 28x28     plain 0.62 (166)  blocked 0.82 (125)
//   1x1 1024->256 14x14    plain 0.66 (157)  blocked 0.78 (132)
//   1x1 1024->2048 14x14 s2 plain 1.84 (112) blocked 1.97 (104)
//   1x1 512->2048 7x7      plain 0.86 (120)  blocked 0.70 (147)
//   1x1 2048->512 7x7      plain 0.85 (121)  blocked 0.75 (138)
//   1x1 256->64 56x56 b8   plain 10.1        blocked 31.6 (the nchw->nhwc reorder dominates)
//   3x3 64->64 56x56       plain 3.72 (62)   blocked 1.53 (151)
//   3x3 256->256 14x14     plain 1.74 (133)  blocked 1.30 (178)
//   3x3 512->512 7x7       plain 2.24 (103)  blocked 1.63 (142)
//   3x3 64->64 56x56 b8    plain 40.8        blocked 26.5
//   depthwise 3x3 64ch 80x80: plain 2.8 (gemm per group), blocked 0.44 (see direct_depthwise)
//   Mixed (plain src with blocked dst or the reverse) always fell back to gemm:jit.
// So: plain for unpadded 1x1 convolutions on inputs of at least 128 pixels (a plain GEMM, no
// im2col), blocked for the rest. A fusion pass that keeps activations blocked between oneDNN
// ops removes the reorders and should then ask for Blocked everywhere.
constexpr int64_t kPlain1x1MinPixels = 128;

bool prefer_plain(const ConvParams& p, const ConvGeometry& g) {
  if (p.src_type != DType::F32) return false;  // int8 kernels want nhwc/blocked
  if (p.transposed) return false;
  if (g.G != 1) return false;
  int64_t pixels = 1;
  for (int i = 0; i < g.nsp; ++i) {
    if (g.kernel[i] != 1 || g.pads_begin[i] != 0 || g.pads_end[i] != 0) return false;
    pixels *= g.in[i];
  }
  return pixels >= kPlain1x1MinPixels;
}

memory::desc user_weight_desc(const ConvParams& p, const ConvGeometry& g) {
  const auto dt = dnn::to_dnnl(p.wei_type);
  int64_t K = 1;
  for (auto k : g.kernel) K *= k;
  Dims kdims(g.kernel.begin(), g.kernel.end());
  Dims kstrides(kdims.size());
  {
    int64_t s = 1;
    for (size_t i = kdims.size(); i-- > 0;) kstrides[i] = s, s *= kdims[i];
  }
  const int64_t Mg = g.M / g.G, Cg = g.C / g.G;
  Dims dims, strides;
  if (!p.transposed) {
    // ONNX (M, C/G, k...) is oneDNN's (oc, ic, k...) or (g, oc/g, ic/g, k...).
    if (g.G == 1) dims = {g.M, g.C}, strides = {g.C * K, K};
    else dims = {g.G, Mg, Cg}, strides = {Mg * Cg * K, Cg * K, K};
  } else {
    // ONNX (C, M/G, k...) = (g, ic/g, oc/g, k...); oneDNN wants dims (g, oc/g, ic/g, k...).
    if (g.G == 1) dims = {g.M, g.C}, strides = {K, g.M * K};
    else dims = {g.G, Mg, Cg}, strides = {Cg * Mg * K, K, Mg * K};
  }
  dims.insert(dims.end(), kdims.begin(), kdims.end());
  strides.insert(strides.end(), kstrides.begin(), kstrides.end());
  return dnn::strided_desc(dims, dt, strides);
}

dnnl::algorithm eltwise_alg(PostOp::Kind k) {
  using A = dnnl::algorithm;
  switch (k) {
    case PostOp::Kind::Relu:
    case PostOp::Kind::LeakyRelu: return A::eltwise_relu;
    case PostOp::Kind::Clip: return A::eltwise_clip;
    case PostOp::Kind::Sigmoid: return A::eltwise_logistic;
    case PostOp::Kind::Swish: return A::eltwise_swish;
    case PostOp::Kind::HardSwish: return A::eltwise_hardswish;
    case PostOp::Kind::Tanh: return A::eltwise_tanh;
    default: fail("internal: post-op is not elementwise");
  }
}

// Direct depthwise convolution on plain NCHW (one 2-D filter per channel, no dilation).
// oneDNN 2.6 only has nhwc/blocked depthwise kernels, and for these memory-bound layers the
// reorders to and from NCHW cost about as much as the convolution. CPU time per call,
// 1 thread, plain tensors in and out (perf task-clock, 1000 calls):
//   64ch 80x80 s1:  direct 0.31 ms, oneDNN + reorders 0.44 ms
//   32ch 160x160 s1: 0.60 vs 0.99 ms;  64ch 80x80 s2 (out 40 wide): 0.23 vs 0.25 ms
//   256ch 20x20 s1:  0.14 vs 0.10 ms;  128ch 40x40 s2 (out 20 wide): 0.16 vs 0.10 ms
// so the direct kernel takes outputs at least 32 wide and oneDNN the narrow ones.
constexpr int64_t kDirectDepthwiseMinWidth = 32;  // must stay >= 16 (one vector)

bool direct_depthwise(const ConvParams& p, const ConvGeometry& g) {
  if (p.transposed || p.src_type != DType::F32 || p.dst_type != DType::F32) return false;
  if (p.src_layout == ActLayout::Blocked || p.dst_layout == ActLayout::Blocked) return false;
  if (g.nsp != 2 || g.G == 1 || g.G != g.C || g.M != g.C) return false;
  if (g.out[1] < kDirectDepthwiseMinWidth) return false;
  return g.dilations[0] == 1 && g.dilations[1] == 1;
}

float eltwise(const PostOp& op, float v) {
  switch (op.kind) {
    case PostOp::Kind::Relu: return v > 0.f ? v : 0.f;
    case PostOp::Kind::LeakyRelu: return v >= 0.f ? v : op.alpha * v;
    case PostOp::Kind::Clip: return std::min(std::max(v, op.alpha), op.beta);
    case PostOp::Kind::Sigmoid: return 1.f / (1.f + std::exp(-v));
    case PostOp::Kind::Swish: return v / (1.f + std::exp(-op.alpha * v));
    case PostOp::Kind::HardSigmoid: return std::min(std::max(op.alpha * v + op.beta, 0.f), 1.f);
    case PostOp::Kind::HardSwish: return v * std::min(std::max(v / 6.f + 0.5f, 0.f), 1.f);
    case PostOp::Kind::Tanh: return std::tanh(v);
    default: return v;
  }
}

// Applies the post-ops to one output row `acc` (n values at element offset `off` of the
// output); `sum_src` holds the Sum addend, `bin` the BinaryAdd operands (plain, output shape).
void post_ops_row(const std::vector<PostOp>& post, float* acc, int64_t n, int64_t off, const float* sum_src,
                  const std::vector<const float*>& bin) {
  size_t bi = 0;
  for (const PostOp& op : post) {
    if (op.kind == PostOp::Kind::BinaryAdd) {
      const float* o = bin[bi++] + off;
      for (int64_t i = 0; i < n; ++i) acc[i] += o[i];
    } else if (op.kind == PostOp::Kind::Sum) {
      for (int64_t i = 0; i < n; ++i) acc[i] += op.scale * sum_src[off + i];
    } else if (op.kind == PostOp::Kind::Relu) {
      for (int64_t i = 0; i < n; ++i) acc[i] = acc[i] > 0.f ? acc[i] : 0.f;
    } else if (op.kind == PostOp::Kind::Clip) {
      for (int64_t i = 0; i < n; ++i) acc[i] = std::min(std::max(acc[i], op.alpha), op.beta);
    } else {
      for (int64_t i = 0; i < n; ++i) acc[i] = eltwise(op, acc[i]);
    }
  }
}

// 16 floats (one AVX-512 register; two AVX2 ones without -march=native). The helpers are
// internal, so the vector-ABI note GCC gives without AVX-512 does not matter.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v16f __attribute__((vector_size(64)));
inline v16f load16(const float* p) {
  v16f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store16(float* p, const v16f& v) { std::memcpy(p, &v, sizeof(v)); }

void depthwise_nchw(const ConvGeometry& g, const float* x, const float* w, const float* b, float* y,
                    const std::vector<PostOp>& post, const std::vector<const float*>& bin) {
  const int64_t H = g.in[0], W = g.in[1], KH = g.kernel[0], KW = g.kernel[1], SH = g.strides[0], SW = g.strides[1];
  const int64_t PT = g.pads_begin[0], PL = g.pads_begin[1], OH = g.out[0], OW = g.out[1];
  // Padded plane holding exactly the rows/cols the outputs read. Each row is stored as SW
  // phases (columns q, q+SW, q+2SW, ...) so every tap reads contiguous memory.
  const int64_t HP = (OH - 1) * SH + KH, WP = (OW - 1) * SW + KW;
  const int64_t WPS = (WP + SW - 1) / SW, RL = WPS * SW + 16;  // phase length, row length
  const int64_t rows = std::min(H, HP - PT), cols = std::min(W, WP - PL);  // input part that is read
  const int64_t planes = g.N * g.C;
  parallel_for(
      planes,
      [&](int64_t p0, int64_t p1) {
        std::vector<float> pad(static_cast<size_t>(HP * RL), 0.f), acc(static_cast<size_t>(OW + 16));
        std::vector<float> line(static_cast<size_t>(WPS * SW + 16), 0.f);
        std::vector<int64_t> koff(static_cast<size_t>(KW));
        for (int64_t kw = 0; kw < KW; ++kw) koff[kw] = (kw % SW) * WPS + kw / SW;
        for (int64_t pl = p0; pl < p1; ++pl) {
          const int64_t c = pl % g.C;
          const float* xp = x + pl * H * W;
          const float* wc = w + c * KH * KW;
          float* yp = y + pl * OH * OW;
          // Rows outside the input stay zero (set once: only the copied rows change).
          for (int64_t r = 0; r < rows; ++r) {
            float* dr = pad.data() + (r + PT) * RL;
            if (SW == 1) {
              std::copy_n(xp + r * W, cols, dr + PL);  // borders stay zero
            } else {
              // Borders of `line` ([0, PL) and past PL + cols) stay zero.
              std::copy_n(xp + r * W, cols, line.data() + PL);
              const float* ln = line.data();
              if (SW == 2) {
                float* d0 = dr;
                float* d1 = dr + WPS;
                for (int64_t i = 0; i < WPS; ++i) {
                  d0[i] = ln[2 * i];
                  d1[i] = ln[2 * i + 1];
                }
              } else {
                for (int64_t q = 0; q < SW; ++q)
                  for (int64_t i = 0; i < WPS; ++i) dr[q * WPS + i] = ln[i * SW + q];
              }
            }
          }
          const float bv = b ? b[c] : 0.f;
          const int64_t* ko = koff.data();
          for (int64_t oh = 0; oh < OH; ++oh) {
            const float* rbase = pad.data() + oh * SH * RL;
            // Without post-ops the row is computed in place.
            float* a = post.empty() ? yp + oh * OW : acc.data();
            {
              // OW >= 16 (see kDirectDepthwiseMinWidth). Four 16-wide blocks at a time
              // (independent FMA chains), then single blocks; the last block overlaps its
              // predecessor when OW is not a multiple of 16.
              int64_t ow0 = 0;
              for (; ow0 + 64 <= OW; ow0 += 64) {
                v16f v0 = v16f{} + bv, v1 = v0, v2 = v0, v3 = v0;
                for (int64_t kh = 0; kh < KH; ++kh) {
                  const float* r = rbase + kh * RL + ow0;
                  const float* wk = wc + kh * KW;
                  for (int64_t kw = 0; kw < KW; ++kw) {
                    const float wv = wk[kw];
                    const float* q = r + ko[kw];
                    v0 += wv * load16(q);
                    v1 += wv * load16(q + 16);
                    v2 += wv * load16(q + 32);
                    v3 += wv * load16(q + 48);
                  }
                }
                store16(a + ow0, v0);
                store16(a + ow0 + 16, v1);
                store16(a + ow0 + 32, v2);
                store16(a + ow0 + 48, v3);
              }
              for (; ow0 < OW; ow0 += 16) {
                const int64_t o = std::min(ow0, OW - 16);
                v16f v = v16f{} + bv;
                for (int64_t kh = 0; kh < KH; ++kh) {
                  const float* r = rbase + kh * RL + o;
                  const float* wk = wc + kh * KW;
                  for (int64_t kw = 0; kw < KW; ++kw) v += wk[kw] * load16(r + ko[kw]);
                }
                store16(a + o, v);
              }
            }
            if (!post.empty()) {
              post_ops_row(post, a, OW, (pl * OH + oh) * OW, y, bin);
              std::copy_n(a, OW, yp + oh * OW);
            }
          }
        }
      },
      1);
}

// ConvTranspose as one GEMM and a col2im scatter: col[n] (OC*KH*KW x H*W) = W^T x[n], then
// y[n, oc, i*s - p + kh*d, j*s - p + kw*d] += col[n, (oc, kh, kw), (i, j)] over a bias-filled
// output. oneDNN 2.6's deconvolution is slow on the small-channel, large-image layers of
// detector necks (PP-OCRv4 det). 1 thread, best of 15, plain tensors in and out, ms; each
// line's two runs were taken together (the machine was shared, so compare within a run):
//                              run 1: oneDNN plain / oneDNN blocked   run 2: GEMM+col2im / oneDNN blocked
//   24->24 160x160 k2 s2              20.7 / 37.0                          4.7 / 14.8
//   24->1 320x320 k2 s2                2.1 / 66.4                          1.5 / 26.9
//   96->96 20x20 k2 s2                 0.56 / 0.76                         0.28 / 0.76
//   64->32 80x80 k4 s2 p1             16.1 / 10.3                          5.6 / 5.9
//   256->128 40x40 k3 s2 p1 op1       22.1 / 22.7                          7.9 / 9.1
// so every group-1 2-D ConvTranspose takes this path unless Blocked is asked for.
bool gemm_deconv(const ConvParams& p, const ConvGeometry& g) {
  if (!p.transposed || p.src_type != DType::F32 || p.dst_type != DType::F32) return false;
  if (p.src_layout == ActLayout::Blocked || p.dst_layout == ActLayout::Blocked) return false;
  return g.nsp == 2 && g.G == 1;
}

// Adds col (OC*KH*KW planes of H x W) into the bias-filled output y (OC planes of OH x OW).
void col2im_add(const ConvGeometry& g, const float* col, float* y, int64_t oc0, int64_t oc1) {
  const int64_t H = g.in[0], W = g.in[1], KH = g.kernel[0], KW = g.kernel[1], SH = g.strides[0], SW = g.strides[1];
  const int64_t DH = g.dilations[0], DW = g.dilations[1], PT = g.pads_begin[0], PL = g.pads_begin[1];
  const int64_t OH = g.out[0], OW = g.out[1];
  for (int64_t oc = oc0; oc < oc1; ++oc) {
    float* yp = y + oc * OH * OW;
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) {
        const float* cp = col + ((oc * KH + kh) * KW + kw) * H * W;
        // Valid j: 0 <= j*SW - PL + kw*DW < OW.
        const int64_t ow_off = kw * DW - PL;
        int64_t j0 = ow_off >= 0 ? 0 : (-ow_off + SW - 1) / SW;
        int64_t j1 = OW - ow_off <= 0 ? 0 : std::min(W, (OW - ow_off + SW - 1) / SW);
        if (j0 >= j1) continue;
        for (int64_t i = 0; i < H; ++i) {
          const int64_t oh = i * SH - PT + kh * DH;
          if (oh < 0 || oh >= OH) continue;
          float* yr = yp + oh * OW;
          const float* cr = cp + i * W;
          if (SW == 1) {
            for (int64_t j = j0; j < j1; ++j) yr[j + ow_off] += cr[j];
          } else if (SW == 2) {
            for (int64_t j = j0; j < j1; ++j) yr[2 * j + ow_off] += cr[j];
          } else {
            for (int64_t j = j0; j < j1; ++j) yr[j * SW + ow_off] += cr[j];
          }
        }
      }
  }
}

}  // namespace

std::unique_ptr<ConvKernel::Entry> ConvKernel::create_entry(const Shape& x, const Shape& w,
                                                            const memory::desc* src_hint,
                                                            const memory::desc* dst_hint) {
  auto e = std::make_unique<Entry>();
  e->x_shape = x;
  e->w_shape = w;
  e->threads = num_threads();
  if (src_hint) e->src_hint = *src_hint;
  if (dst_hint) e->dst_hint = *dst_hint;
  e->g = conv_geometry(p_, x, w);
  const ConvGeometry& g = e->g;
  const auto sdt = dnn::to_dnnl(p_.src_type), ddt = dnn::to_dnnl(p_.dst_type), wdt = dnn::to_dnnl(p_.wei_type);

  Dims src_dims(x.begin(), x.end());
  Dims dst_dims = {g.N, g.M};
  dst_dims.insert(dst_dims.end(), g.prim_out.begin(), g.prim_out.end());
  e->user_src_md = dnn::plain_desc(src_dims, sdt);
  e->user_dst_md = dnn::plain_desc(dst_dims, ddt);
  e->user_wei_md = user_weight_desc(p_, g);
  const bool with_bias = p_.has_bias;
  if (with_bias) e->bias_md = dnn::plain_desc(Dims{g.M}, memory::data_type::f32);

  const bool plain_pref = prefer_plain(p_, g);
  auto pick = [&](ActLayout l, const memory::desc& user, const Dims& dims, memory::data_type dt) {
    const bool plain = l == ActLayout::Plain || (l == ActLayout::Auto && plain_pref);
    return plain ? user : memory::desc(dims, dt, memory::format_tag::any);
  };
  memory::desc src_req = src_hint ? *src_hint : pick(p_.src_layout, e->user_src_md, src_dims, sdt);
  memory::desc dst_req = dst_hint ? *dst_hint : pick(p_.dst_layout, e->user_dst_md, dst_dims, ddt);
  memory::desc wei_req(e->user_wei_md.dims(), wdt, memory::format_tag::any);

  dnnl::post_ops po;
  for (const PostOp& op : p_.post_ops) {
    switch (op.kind) {
      case PostOp::Kind::BinaryAdd: {
        // Operand in the destination's layout when that is fixed, else plain.
        memory::desc md = dst_req.data.format_kind == dnnl_format_kind_any ? e->user_dst_md : dst_req;
        e->binary_mds.push_back(md);
        e->binary_po_index.push_back(po.len());
        po.append_binary(dnnl::algorithm::binary_add, md);
        break;
      }
      case PostOp::Kind::Sum:
        po.append_sum(op.scale);
        break;
      case PostOp::Kind::HardSigmoid:  // oneDNN 2.6 has no hardsigmoid: clip(alpha * x + beta, 0, 1)
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, op.alpha, op.beta);
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 1.f);
        break;
      case PostOp::Kind::Relu: po.append_eltwise(1.f, eltwise_alg(op.kind), 0.f, 0.f); break;
      case PostOp::Kind::HardSwish: po.append_eltwise(1.f, eltwise_alg(op.kind), 0.f, 0.f); break;
      case PostOp::Kind::Sigmoid:
      case PostOp::Kind::Tanh: po.append_eltwise(1.f, eltwise_alg(op.kind), 0.f, 0.f); break;
      default: po.append_eltwise(1.f, eltwise_alg(op.kind), op.alpha, op.beta); break;
    }
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  if (p_.src_zero_point) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});

  Dims strides(g.strides.begin(), g.strides.end()), dil(g.nsp), pl(g.nsp), pr(g.nsp);
  for (int i = 0; i < g.nsp; ++i) {
    dil[i] = g.dilations[i] - 1;
    if (!p_.transposed) {
      pl[i] = g.pads_begin[i];
      pr[i] = g.pads_end[i];
    } else {
      const int64_t full = g.strides[i] * (g.in[i] - 1) + (g.kernel[i] - 1) * g.dilations[i] + 1;
      pl[i] = std::max<int64_t>(g.pads_begin[i], 0);
      pr[i] = full - pl[i] - g.prim_out[i];
    }
  }
  const auto pk = dnnl::prop_kind::forward_inference;
  try {
    if (!p_.transposed) {
      using CF = dnnl::convolution_forward;
      auto d = with_bias ? CF::desc(pk, dnnl::algorithm::convolution_direct, src_req, wei_req, e->bias_md, dst_req,
                                    strides, dil, pl, pr)
                         : CF::desc(pk, dnnl::algorithm::convolution_direct, src_req, wei_req, dst_req, strides, dil,
                                    pl, pr);
      CF::primitive_desc pd(d, attr, dnn::engine());
      e->src_md = pd.src_desc();
      e->dst_md = pd.dst_desc();
      e->wei_md = pd.weights_desc();
      e->prim = CF(pd);
    } else {
      using DF = dnnl::deconvolution_forward;
      auto d = with_bias ? DF::desc(pk, dnnl::algorithm::deconvolution_direct, src_req, wei_req, e->bias_md,
                                    dst_req, strides, dil, pl, pr)
                         : DF::desc(pk, dnnl::algorithm::deconvolution_direct, src_req, wei_req, dst_req, strides,
                                    dil, pl, pr);
      DF::primitive_desc pd(d, attr, dnn::engine());
      e->src_md = pd.src_desc();
      e->dst_md = pd.dst_desc();
      e->wei_md = pd.weights_desc();
      e->prim = DF(pd);
    }
  } catch (const dnnl::error& err) {
    fail("{}: oneDNN cannot build the primitive for X {} W {} ({})", p_.op_name, shape_str(x), shape_str(w),
         err.what());
  }
  e->reorder_src = e->src_md != e->user_src_md;
  e->reorder_dst = e->dst_md != e->user_dst_md;
  if (e->reorder_src) e->src_r = dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), e->user_src_md,
                                                                             dnn::engine(), e->src_md));
  if (e->reorder_dst) e->dst_r = dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), e->dst_md,
                                                                             dnn::engine(), e->user_dst_md));
  if (e->wei_md != e->user_wei_md)
    e->wei_r = dnnl::reorder(dnnl::reorder::primitive_desc(dnn::engine(), e->user_wei_md, dnn::engine(), e->wei_md));

  if (has_const_w_) {
    DPL_CHECK(const_w_.shape() == w, "internal: {} constant weights changed shape", p_.op_name);
    for (auto& [md, mem] : packed_w_)
      if (md == e->wei_md) e->packed_w = mem;
    if (!e->packed_w) {
      memory user(e->user_wei_md, dnn::engine(), const_cast<void*>(const_w_.raw()));
      e->packed_w = dnn::reorder_to(user, e->wei_md);
      if (e->packed_w.get_data_handle() == user.get_data_handle()) e->packed_w = user;  // const_w_ keeps it alive
      packed_w_.emplace_back(e->wei_md, e->packed_w);
    }
  }
  return e;
}

ConvKernel::Entry& ConvKernel::prepare(const Shape& x, const Shape& w, const memory::desc* src_hint,
                                       const memory::desc* dst_hint) {
  const int threads = num_threads();
  for (size_t i = 0; i < cache_.size(); ++i) {
    Entry& e = *cache_[i];
    if (e.threads == threads && e.x_shape == x && e.w_shape == w &&
        (src_hint ? e.src_hint == *src_hint : e.src_hint == memory::desc()) &&
        (dst_hint ? e.dst_hint == *dst_hint : e.dst_hint == memory::desc())) {
      if (i != 0) std::rotate(cache_.begin(), cache_.begin() + static_cast<long>(i), cache_.begin() + static_cast<long>(i) + 1);
      return *cache_[0];
    }
  }
  constexpr size_t kMaxEntries = 4;
  auto e = create_entry(x, w, src_hint, dst_hint);
  cache_.insert(cache_.begin(), std::move(e));
  if (cache_.size() > kMaxEntries) cache_.pop_back();
  return *cache_[0];
}

memory ConvKernel::weights_for(Entry& e, const Tensor& w) {
  if (e.packed_w) return e.packed_w;
  memory user(e.user_wei_md, dnn::engine(), const_cast<void*>(w.raw()));
  if (!e.wei_r) return user;
  memory packed = dnn::scratch_memory(2, e.wei_md);
  e.wei_r.execute(dnn::stream(), user, packed);
  return packed;
}

void ConvKernel::execute(Entry& e, const memory& src, const memory& dst, const Tensor& w, const Tensor* b,
                         const std::vector<memory>& binary_args, int32_t src_zp) {
  memory wm = weights_for(e, has_const_w_ ? const_w_ : w);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}};
  if (p_.has_bias) {
    const Tensor& bt = has_const_b_ ? const_b_ : *b;
    DPL_CHECK(bt.numel() == e.g.M && bt.dtype() == DType::F32, "{}: bias B has shape {}, expected [{}]", p_.op_name,
              shape_str(bt.shape()), e.g.M);
    args[DNNL_ARG_BIAS] = memory(e.bias_md, dnn::engine(), const_cast<void*>(bt.raw()));
  }
  DPL_CHECK(binary_args.size() == e.binary_po_index.size(), "internal: {} has {} fused add operands, expected {}",
            p_.op_name, binary_args.size(), e.binary_po_index.size());
  for (size_t k = 0; k < binary_args.size(); ++k)
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(e.binary_po_index[k]) | DNNL_ARG_SRC_1] = binary_args[k];
  memory zp_mem;
  if (p_.src_zero_point) {
    zp_mem = memory(memory::desc({1}, memory::data_type::s32, memory::format_tag::x), dnn::engine(), &src_zp);
    args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zp_mem;
  }
  e.prim.execute(dnn::stream(), args);
}

Tensor ConvKernel::run(const Tensor& x, const Tensor& w, const Tensor* b, const std::vector<const Tensor*>& binary_args,
                       int32_t src_zp) {
  const Tensor& wt = has_const_w_ ? const_w_ : w;
  DPL_CHECK(x.dtype() == p_.src_type, "{}: input X has type {}, expected {}", p_.op_name, dtype_name(x.dtype()),
            dtype_name(p_.src_type));
  DPL_CHECK(wt.dtype() == p_.wei_type, "{}: weights W have type {}, expected {}", p_.op_name, dtype_name(wt.dtype()),
            dtype_name(p_.wei_type));
  dnn::sync_threads();
  if (x.numel() == 0 || wt.numel() == 0) {
    // Nothing to compute (e.g. batch 0): oneDNN does not take empty shapes.
    ConvGeometry g = conv_geometry(p_, x.shape(), wt.shape());
    DPL_CHECK(shape_numel(g.y_shape) == 0, "{}: empty input X {} or weights {}", p_.op_name, shape_str(x.shape()),
              shape_str(wt.shape()));
    return Tensor(p_.dst_type, g.y_shape);
  }
  if (p_.src_type == DType::F32 && x.rank() == 4 && wt.rank() == 4 && (p_.group > 1 || p_.transposed)) {
    ConvGeometry g = conv_geometry(p_, x.shape(), wt.shape());
    if (direct_depthwise(p_, g)) return run_depthwise(g, x, wt, b, binary_args);
    if (gemm_deconv(p_, g)) return run_deconv_gemm(g, x, wt, b, binary_args);
  }
  Entry& e = prepare(x.shape(), wt.shape());
  const ConvGeometry& g = e.g;
  Tensor y(p_.dst_type, g.y_shape);

  // Binary operands and the Sum addend, in the layouts the primitive was built with.
  std::vector<memory> bin;
  size_t bi = 0;
  const Tensor* sum_addend = nullptr;
  DPL_CHECK(p_.post_ops.empty() || !g.needs_expand,
            "internal: {} post-ops with an output_shape beyond the natural output", p_.op_name);
  for (const PostOp& op : p_.post_ops) {
    if (op.kind != PostOp::Kind::BinaryAdd && op.kind != PostOp::Kind::Sum) continue;
    DPL_CHECK(bi < binary_args.size() && binary_args[bi], "internal: {} post-op operand missing", p_.op_name);
    if (op.kind == PostOp::Kind::BinaryAdd) {
      DPL_CHECK(binary_args[bi]->shape() == y.shape(), "internal: {} fused add operand shape {} != output {}",
                p_.op_name, shape_str(binary_args[bi]->shape()), shape_str(y.shape()));
      bin.push_back(dnn::wrap(*binary_args[bi], e.binary_mds[bin.size()]));
    } else {
      sum_addend = binary_args[bi];
    }
    ++bi;
  }

  memory src_user = dnn::wrap(x, e.user_src_md);
  memory src = src_user;
  if (e.reorder_src) {
    src = dnn::scratch_memory(0, e.src_md);
    e.src_r.execute(dnn::stream(), src_user, src);
  }
  // The primitive's plain output: y itself, or a temporary when ConvTranspose's output
  // extends beyond the natural one.
  Tensor prim_y = y;
  if (g.needs_expand) {
    const Dims pd = e.user_dst_md.dims();
    prim_y = Tensor(p_.dst_type, Shape(pd.begin(), pd.end()));
  }
  memory dst_user(e.user_dst_md, dnn::engine(), prim_y.raw());
  memory dst = e.reorder_dst ? dnn::scratch_memory(1, e.dst_md) : dst_user;
  if (sum_addend) {
    DPL_CHECK(sum_addend->shape() == y.shape() && sum_addend->dtype() == y.dtype(),
              "internal: {} fused sum operand shape {} != output {}", p_.op_name, shape_str(sum_addend->shape()),
              shape_str(y.shape()));
    memory add_user = dnn::wrap(*sum_addend, e.user_dst_md);
    if (e.reorder_dst) dnnl::reorder(add_user, dst).execute(dnn::stream(), add_user, dst);
    else std::memcpy(y.raw(), sum_addend->raw(), y.bytes());
  }
  execute(e, src, dst, wt, b, bin, src_zp);
  if (e.reorder_dst) e.dst_r.execute(dnn::stream(), dst, dst_user);
  dnn::stream().wait();

  if (g.needs_expand) {
    // Place prim_y at out_offset inside y; everything else is bias (or 0).
    DPL_CHECK(p_.dst_type == DType::F32, "internal: {} output expansion only for float", p_.op_name);
    const Tensor* bt = p_.has_bias ? (has_const_b_ ? &const_b_ : b) : nullptr;
    const int n = g.nsp;
    int64_t out_sp = 1, prim_sp = 1;
    for (int i = 0; i < n; ++i) out_sp *= g.out[i], prim_sp *= g.prim_out[i];
    float* yd = y.data<float>();
    const float* pd = prim_y.data<float>();
    for (int64_t nc = 0; nc < g.N * g.M; ++nc) {
      const float bv = bt ? bt->data<float>()[nc % g.M] : 0.f;
      float* yo = yd + nc * out_sp;
      std::fill_n(yo, out_sp, bv);
      const float* po = pd + nc * prim_sp;
      for (int64_t q = 0; q < prim_sp; ++q) {
        int64_t rem = q, off = 0, mul = 1;
        bool inside = true;
        for (int i = n - 1; i >= 0; --i) {
          const int64_t c = rem % g.prim_out[i] + g.out_offset[i];
          rem /= g.prim_out[i];
          if (c >= g.out[i]) inside = false;
          off += c * mul;
          mul *= g.out[i];
        }
        if (inside) yo[off] = po[q];
      }
    }
  }
  return y;
}

}  // namespace dpl

namespace dpl {

Tensor ConvKernel::run_depthwise(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                                 const std::vector<const Tensor*>& binary_args) {
  Tensor y(DType::F32, g.y_shape);
  if (y.numel() == 0) return y;
  const Tensor* bt = p_.has_bias ? (has_const_b_ ? &const_b_ : b) : nullptr;
  if (bt) {
    DPL_CHECK(bt->numel() == g.M && bt->dtype() == DType::F32, "{}: bias B has shape {}, expected [{}]", p_.op_name,
              shape_str(bt->shape()), g.M);
  }
  std::vector<const float*> bin;
  size_t bi = 0;
  for (const PostOp& op : p_.post_ops) {
    if (op.kind != PostOp::Kind::BinaryAdd && op.kind != PostOp::Kind::Sum) continue;
    DPL_CHECK(bi < binary_args.size() && binary_args[bi] && binary_args[bi]->shape() == y.shape(),
              "internal: {} post-op operand missing or of the wrong shape", p_.op_name);
    if (op.kind == PostOp::Kind::BinaryAdd) bin.push_back(binary_args[bi]->data<float>());
    else std::memcpy(y.raw(), binary_args[bi]->raw(), y.bytes());
    ++bi;
  }
  depthwise_nchw(g, x.data<float>(), w.data<float>(), bt ? bt->data<float>() : nullptr, y.data<float>(), p_.post_ops,
                 bin);
  return y;
}

}  // namespace dpl

namespace dpl {

// See gemm_deconv() for when this runs and what it was measured against.
Tensor ConvKernel::run_deconv_gemm(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                                   const std::vector<const Tensor*>& binary_args) {
  Tensor y(DType::F32, g.y_shape);
  if (y.numel() == 0) return y;
  const Tensor* bt = p_.has_bias ? (has_const_b_ ? &const_b_ : b) : nullptr;
  if (bt) {
    DPL_CHECK(bt->numel() == g.M && bt->dtype() == DType::F32, "{}: bias B has shape {}, expected [{}]", p_.op_name,
              shape_str(bt->shape()), g.M);
  }
  std::vector<const float*> bin;
  const float* sum_src = nullptr;
  size_t bi = 0;
  for (const PostOp& op : p_.post_ops) {
    if (op.kind != PostOp::Kind::BinaryAdd && op.kind != PostOp::Kind::Sum) continue;
    DPL_CHECK(bi < binary_args.size() && binary_args[bi] && binary_args[bi]->shape() == y.shape(),
              "internal: {} post-op operand missing or of the wrong shape", p_.op_name);
    if (op.kind == PostOp::Kind::BinaryAdd) bin.push_back(binary_args[bi]->data<float>());
    else sum_src = binary_args[bi]->data<float>();
    ++bi;
  }
  const int64_t HW = g.in[0] * g.in[1], K = g.C, M = g.M * g.kernel[0] * g.kernel[1];
  const int64_t OHW = g.out[0] * g.out[1];
  // col[n] = W^T (M x K) x[n] (K x HW). ONNX W is (K, M) row-major: W^T is a strided view.
  float* col = static_cast<float*>(dnn::scratch(3, static_cast<size_t>(g.N * M * HW) * sizeof(float)));
  if (!deconv_mm_) {
    deconv_mm_ = std::make_unique<MatMulKernel>();
    MatMulParams mp;
    mp.op_name = p_.op_name;
    deconv_mm_->init(mp, nullptr);
  }
  deconv_mm_->run_raw(w.raw(), {1, M, K}, {M * K, 1, M}, x.raw(), {g.N, K, HW}, {K * HW, HW, 1}, nullptr, {}, col,
                      {g.N, M, HW});
  float* yd = y.data<float>();
  const float* bd = bt ? bt->data<float>() : nullptr;
  const std::vector<PostOp>& post = p_.post_ops;
  parallel_for(
      g.N * g.M,
      [&](int64_t p0, int64_t p1) {
        for (int64_t pl = p0; pl < p1; ++pl) {
          const int64_t n = pl / g.M, oc = pl % g.M;
          float* yp = yd + pl * OHW;
          std::fill_n(yp, OHW, bd ? bd[oc] : 0.f);
          col2im_add(g, col + n * M * HW, yd + n * g.M * OHW, oc, oc + 1);
          if (!post.empty()) post_ops_row(post, yp, OHW, pl * OHW, sum_src, bin);
        }
      },
      1);
  return y;
}

}  // namespace dpl
