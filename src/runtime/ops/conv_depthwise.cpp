// Direct depthwise convolution on plain NCHW (one 2-D filter per channel, no dilation),
// 16-wide vector FMAs over a zero-padded copy of each input plane. oneDNN 2.6 only has
// nhwc/blocked depthwise kernels, and for these memory-bound layers the reorders to and from
// NCHW cost about as much as the convolution. Rule: this kernel takes outputs at least
// kDirectDepthwiseMinWidth wide, oneDNN the narrow ones (measurements: docs/perf-notes.md).
#include <algorithm>
#include <cstring>

#include "runtime/ops/conv_kernel.h"
#include "runtime/parallel.h"

namespace dpl {

namespace {

constexpr int64_t kDirectDepthwiseMinWidth = 32;  // must stay >= 16 (one vector)

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

// Sizes of the padded plane a depthwise layer reads. Each padded row holds exactly the
// columns the outputs read, stored as SW phases (columns q, q+SW, q+2SW, ...) so every tap
// reads contiguous memory.
struct PaddedPlane {
  int64_t HP = 0, WP = 0;    // padded rows / columns that are read
  int64_t WPS = 0, RL = 0;   // phase length, row length (with 16 floats of slack)
  int64_t rows = 0, cols = 0;  // part of the input that is read
};

PaddedPlane padded_plane(const ConvGeometry& g) {
  PaddedPlane pp;
  const int64_t H = g.in[0], W = g.in[1], KH = g.kernel[0], KW = g.kernel[1], SH = g.strides[0], SW = g.strides[1];
  const int64_t PT = g.pads_begin[0], PL = g.pads_begin[1], OH = g.out[0], OW = g.out[1];
  pp.HP = (OH - 1) * SH + KH;
  pp.WP = (OW - 1) * SW + KW;
  pp.WPS = (pp.WP + SW - 1) / SW;
  pp.RL = pp.WPS * SW + 16;
  pp.rows = std::min(H, pp.HP - PT);
  pp.cols = std::min(W, pp.WP - PL);
  return pp;
}

// Copies the input plane `xp` into `pad` (rows outside the input stay zero: set once, only
// the copied rows change). `line` is a zeroed row buffer for strided layers.
void fill_padded_plane(const ConvGeometry& g, const PaddedPlane& pp, const float* xp, float* pad, float* line) {
  const int64_t W = g.in[1], SW = g.strides[1], PT = g.pads_begin[0], PL = g.pads_begin[1];
  const int64_t WPS = pp.WPS, RL = pp.RL, cols = pp.cols;
  for (int64_t r = 0; r < pp.rows; ++r) {
    float* dr = pad + (r + PT) * RL;
    if (SW == 1) {
      std::copy_n(xp + r * W, cols, dr + PL);  // borders stay zero
    } else {
      // Borders of `line` ([0, PL) and past PL + cols) stay zero.
      std::copy_n(xp + r * W, cols, line + PL);
      const float* ln = line;
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
}

// One output row: a[ow] = bv + sum over taps of w * padded input, OW >= 16 (see
// kDirectDepthwiseMinWidth). Four 16-wide blocks at a time (independent FMA chains), then
// single blocks; the last block overlaps its predecessor when OW is not a multiple of 16.
void depthwise_row(const float* rbase, const float* wc, const int64_t* ko, int64_t KH, int64_t KW, int64_t RL,
                   int64_t OW, float bv, float* a) {
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

void depthwise_nchw(const ConvGeometry& g, const float* x, const float* w, const float* b, float* y,
                    const std::vector<PostOp>& post, const std::vector<const float*>& bin) {
  const int64_t H = g.in[0], W = g.in[1], KH = g.kernel[0], KW = g.kernel[1], SH = g.strides[0], SW = g.strides[1];
  const int64_t OH = g.out[0], OW = g.out[1];
  const PaddedPlane pp = padded_plane(g);
  const int64_t planes = g.N * g.C;
  parallel_for(
      planes,
      [&](int64_t p0, int64_t p1) {
        std::vector<float> pad(static_cast<size_t>(pp.HP * pp.RL), 0.f), acc(static_cast<size_t>(OW + 16));
        std::vector<float> line(static_cast<size_t>(pp.WPS * SW + 16), 0.f);
        std::vector<int64_t> koff(static_cast<size_t>(KW));
        for (int64_t kw = 0; kw < KW; ++kw) koff[kw] = (kw % SW) * pp.WPS + kw / SW;
        for (int64_t pl = p0; pl < p1; ++pl) {
          const int64_t c = pl % g.C;
          const float* wc = w + c * KH * KW;
          float* yp = y + pl * OH * OW;
          fill_padded_plane(g, pp, x + pl * H * W, pad.data(), line.data());
          const float bv = b ? b[c] : 0.f;
          for (int64_t oh = 0; oh < OH; ++oh) {
            // Without post-ops the row is computed in place.
            float* a = post.empty() ? yp + oh * OW : acc.data();
            depthwise_row(pad.data() + oh * SH * pp.RL, wc, koff.data(), KH, KW, pp.RL, OW, bv, a);
            if (!post.empty()) {
              post_ops_row(post, a, OW, (pl * OH + oh) * OW, bin);
              std::copy_n(a, OW, yp + oh * OW);
            }
          }
        }
      },
      1);
}

}  // namespace

bool direct_depthwise(const ConvParams& p, const ConvGeometry& g) {
  if (p.transposed || p.src_type != DType::F32 || p.dst_type != DType::F32) return false;
  if (p.prop_kind != dnnl::prop_kind::forward_inference) return false;  // backward wants oneDNN's forward
  if (g.nsp != 2 || g.G == 1 || g.G != g.C || g.M != g.C) return false;
  if (g.out[1] < kDirectDepthwiseMinWidth) return false;
  return g.dilations[0] == 1 && g.dilations[1] == 1;
}

Tensor ConvKernel::run_depthwise(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                                 const std::vector<const Tensor*>& binary_args) {
  Tensor y(DType::F32, g.y_shape);
  if (y.numel() == 0) return y;
  const DirectOperands ops = collect_operands(p_, g, bias_for(b), binary_args);
  depthwise_nchw(g, x.data<float>(), w.data<float>(), ops.bias, y.data<float>(), p_.post_ops, ops.binary);
  return y;
}

}  // namespace dpl
