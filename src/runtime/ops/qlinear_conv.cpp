// QLinearConv (opset 10) and ConvInteger (opset 10).
//
// Both compute int32 accumulators acc = sum (x - x_zp) * (w - w_zp[m]) over the window
// (padding contributes 0, i.e. pads with x_zp). QLinearConv then requantizes:
//   y = saturate(round_half_even(float(acc + B[m]) * (x_scale * w_scale[m] / y_scale)) + y_zp).
//
// The accumulation runs on oneDNN's int8 convolution (src u8/s8 with a run-time zero
// point, weights s8, dst s32) when the CPU has VNNI (exact int32 accumulation); otherwise on
// a reference loop. Where w - w_zp does not fit in int8 (uint8 weights: [-255, 255]), the
// convolution runs on w8 = w - 128, and offset[m] = 128 - w_zp[m] times each window's sum of
// x - x_zp (over the channels of m's group) is added, by the requantization's pass
// (ShiftedWeights, OffsetTerms). The requantization is ours, so results are bit-exact either
// way.
#include <algorithm>
#include <type_traits>

#include "runtime/channels_last.h"
#include "runtime/dnnl_util.h"
#include "runtime/op_registry.h"
#include "runtime/ops/conv_kernel.h"
#include "runtime/ops/data_movement.h"
#include "runtime/ops/qlinear_common.h"

namespace dpl {
namespace {

// w - w_zp[m] as int32, m the output channel (axis 0).
std::vector<int32_t> shifted_weights(const Tensor& w, const Tensor* wzp) {
  std::vector<int32_t> r(static_cast<size_t>(w.numel()));
  const int64_t M = w.dim(0), per = M ? w.numel() / M : 0;
  for (int64_t m = 0; m < M; ++m) {
    const int32_t z = zp_at(wzp, m);
    for (int64_t i = 0; i < per; ++i) r[m * per + i] = static_cast<int32_t>(w.at_i64(m * per + i)) - z;
  }
  return r;
}

// A convolution's geometry with spatial rank 1-3 treated as 3-D (leading unit dims): input,
// kernel, strides, dilations, leading pads and output sizes per axis.
struct Window3 {
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0, 0, 0},
          o[3] = {1, 1, 1};
};

Window3 window3(const ConvGeometry& g) {
  Window3 w;
  const int off = 3 - g.nsp;
  for (int i = 0; i < g.nsp; ++i) {
    w.in[off + i] = g.in[i], w.k[off + i] = g.kernel[i], w.s[off + i] = g.strides[i];
    w.d[off + i] = g.dilations[i], w.p[off + i] = g.pads_begin[i], w.o[off + i] = g.out[i];
  }
  return w;
}

// Reference accumulation, any spatial rank 1-3 (treated as 3-D with unit dims).
void conv_acc_ref(const ConvGeometry& g, const Tensor& x, int32_t xzp, const std::vector<int32_t>& w, int32_t* y) {
  const Window3 w3 = window3(g);
  const int64_t *in = w3.in, *k = w3.k, *s = w3.s, *d = w3.d, *p = w3.p, *o = w3.o;
  const int64_t Cg = g.C / g.G, Mg = g.M / g.G;
  const int64_t isz = in[0] * in[1] * in[2], osz = o[0] * o[1] * o[2], ksz = k[0] * k[1] * k[2];
  std::vector<int32_t> xs(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) xs[i] = static_cast<int32_t>(x.at_i64(i)) - xzp;
  parallel_for(
      g.N * g.M,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t n = b / g.M, m = b % g.M, grp = m / Mg;
          int32_t* yo = y + b * osz;
          for (int64_t o0 = 0; o0 < o[0]; ++o0)
            for (int64_t o1 = 0; o1 < o[1]; ++o1)
              for (int64_t o2 = 0; o2 < o[2]; ++o2) {
                int32_t acc = 0;
                for (int64_t c = 0; c < Cg; ++c) {
                  const int32_t* xc = xs.data() + (n * g.C + grp * Cg + c) * isz;
                  const int32_t* wc = w.data() + (m * Cg + c) * ksz;
                  for (int64_t k0 = 0; k0 < k[0]; ++k0) {
                    const int64_t i0 = o0 * s[0] - p[0] + k0 * d[0];
                    if (i0 < 0 || i0 >= in[0]) continue;
                    for (int64_t k1 = 0; k1 < k[1]; ++k1) {
                      const int64_t i1 = o1 * s[1] - p[1] + k1 * d[1];
                      if (i1 < 0 || i1 >= in[1]) continue;
                      for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                        const int64_t i2 = o2 * s[2] - p[2] + k2 * d[2];
                        if (i2 < 0 || i2 >= in[2]) continue;
                        acc += xc[(i0 * in[1] + i1) * in[2] + i2] * wc[(k0 * k[1] + k1) * k[2] + k2];
                      }
                    }
                  }
                }
                yo[(o0 * o[1] + o1) * o[2] + o2] = acc;
              }
        }
      },
      1);
}

// Window sums for the offset terms: sums[n, g, o] = sum of x - x_zp over output position o's
// window and the channels of group g (padding contributes 0). Channels are summed first into
// one plane per group, then each window of the plane; spatial rank 1-3 as the reference.
template <typename X>
void window_sums(const ConvGeometry& g, const X* x, int32_t xzp, int32_t* sums) {
  const Window3 w3 = window3(g);
  const int64_t *in = w3.in, *k = w3.k, *s = w3.s, *d = w3.d, *p = w3.p, *o = w3.o;
  const int64_t Cg = g.C / g.G, isz = in[0] * in[1] * in[2], osz = o[0] * o[1] * o[2];
  parallel_for(
      g.N * g.G,
      [&](int64_t b0, int64_t b1) {
        std::vector<int32_t> plane(static_cast<size_t>(isz));
        for (int64_t b = b0; b < b1; ++b) {
          std::fill(plane.begin(), plane.end(), -static_cast<int32_t>(Cg) * xzp);
          const X* xg = x + b * Cg * isz;  // (n, g) -> channels b*Cg.. of the [N, C, ...] input
          for (int64_t c = 0; c < Cg; ++c) {
            const X* xc = xg + c * isz;
            for (int64_t i = 0; i < isz; ++i) plane[i] += xc[i];
          }
          int32_t* out = sums + b * osz;
          std::fill_n(out, osz, 0);
          for (int64_t o0 = 0; o0 < o[0]; ++o0)
            for (int64_t k0 = 0; k0 < k[0]; ++k0) {
              const int64_t i0 = o0 * s[0] - p[0] + k0 * d[0];
              if (i0 < 0 || i0 >= in[0]) continue;
              for (int64_t o1 = 0; o1 < o[1]; ++o1)
                for (int64_t k1 = 0; k1 < k[1]; ++k1) {
                  const int64_t i1 = o1 * s[1] - p[1] + k1 * d[1];
                  if (i1 < 0 || i1 >= in[1]) continue;
                  const int32_t* row = plane.data() + (i0 * in[1] + i1) * in[2];
                  int32_t* orow = out + (o0 * o[1] + o1) * o[2];
                  for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                    // Output positions whose input column o2 * s - p + k2 * d lies in [0, in).
                    const int64_t shift = k2 * d[2] - p[2];
                    int64_t first = shift >= 0 ? 0 : (-shift + s[2] - 1) / s[2];
                    int64_t last = in[2] - 1 - shift < 0 ? -1 : (in[2] - 1 - shift) / s[2];
                    last = std::min(last, o[2] - 1);
                    const int32_t* r = row + shift;
                    if (s[2] == 1)
                      for (int64_t o2 = first; o2 <= last; ++o2) orow[o2] += r[o2];
                    else
                      for (int64_t o2 = first; o2 <= last; ++o2) orow[o2] += r[o2 * s[2]];
                  }
                }
            }
        }
      },
      1);
}

// window_sums() of a channels-last x ([N, spatial..., C]) into sums [N, positions, G]: the
// channels of each group are summed per input position (a [positions, G] plane, or x - x_zp
// itself for depthwise layers), then each output position adds the G-vectors of its window,
// so every inner loop runs over contiguous groups.
template <typename X>
void window_sums_channels_last(const ConvGeometry& g, const X* x, int32_t xzp, int32_t* sums) {
  const Window3 w3 = window3(g);
  const int64_t *in = w3.in, *k = w3.k, *s = w3.s, *d = w3.d, *p = w3.p, *o = w3.o;
  const int64_t G = g.G, Cg = g.C / G, isz = in[0] * in[1] * in[2], osz = o[0] * o[1] * o[2];
  for (int64_t n = 0; n < g.N; ++n) {
    std::vector<int32_t> plane(static_cast<size_t>(isz * G));
    const X* xn = x + n * isz * g.C;
    const int32_t base = -static_cast<int32_t>(Cg) * xzp;
    parallel_for(isz, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const X* __restrict xi = xn + i * g.C;
        int32_t* __restrict pi = plane.data() + i * G;
        if (Cg == 1) {
          for (int64_t c = 0; c < G; ++c) pi[c] = static_cast<int32_t>(xi[c]) + base;
        } else {
          for (int64_t grp = 0; grp < G; ++grp) {
            int32_t acc = base;
            for (int64_t c = 0; c < Cg; ++c) acc += xi[grp * Cg + c];
            pi[grp] = acc;
          }
        }
      }
    });
    int32_t* out = sums + n * osz * G;
    parallel_for(o[0] * o[1], [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o0 = r / o[1], o1 = r % o[1];
        int32_t* orow = out + r * o[2] * G;
        std::fill_n(orow, o[2] * G, 0);
        for (int64_t k0 = 0; k0 < k[0]; ++k0) {
          const int64_t i0 = o0 * s[0] - p[0] + k0 * d[0];
          if (i0 < 0 || i0 >= in[0]) continue;
          for (int64_t k1 = 0; k1 < k[1]; ++k1) {
            const int64_t i1 = o1 * s[1] - p[1] + k1 * d[1];
            if (i1 < 0 || i1 >= in[1]) continue;
            const int32_t* row = plane.data() + (i0 * in[1] + i1) * in[2] * G;
            for (int64_t o2 = 0; o2 < o[2]; ++o2) {
              int32_t* __restrict dst = orow + o2 * G;
              for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                const int64_t i2 = o2 * s[2] - p[2] + k2 * d[2];
                if (i2 < 0 || i2 >= in[2]) continue;
                const int32_t* __restrict src = row + i2 * G;
                for (int64_t c = 0; c < G; ++c) dst[c] += src[c];
              }
            }
          }
        }
      }
    });
  }
}

// acc[n, m, :] += offset[m] * sums[n, m / per_group, :], in place (ConvInteger).
void add_offset_terms(const OffsetTerms& t, Tensor& acc) {
  const int64_t N = acc.dim(0), M = acc.dim(1);
  const int64_t inner = N > 0 && M > 0 ? acc.numel() / (N * M) : 0;
  int32_t* a = acc.data<int32_t>();
  parallel_for(
      N * M,
      [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int32_t o = t.offset[b % M];
          const int32_t* srow = t.row(b / M, b % M, M);
          int32_t* arow = a + b * inner;
          for (int64_t i = 0; i < inner; ++i) arow[i] += o * srow[i];
        }
      },
      std::max<int64_t>(1, 65536 / std::max<int64_t>(inner, 1)));
}

// Integer convolution accumulators, oneDNN or reference.
class IntConv {
 public:
  void init(ConvParams p, const NodeDesc& node, size_t w_index, size_t wzp_index) {
    p_ = std::move(p);
    w_.constant = pack_if_constant(node, w_index, wzp_index, [&](const Tensor& w, const Tensor* wzp) { pack(w, wzp); });
  }

  // Which path ran last: "oneDNN int8", "oneDNN int8 + offset terms" or "reference".
  std::string path() const {
    if (!w_.use_dnnl) return "reference";
    return w_.offset.empty() ? "oneDNN int8" : "oneDNN int8 + offset terms";
  }

  // [N, M, out...] int32. With offset terms (ShiftedWeights) they are added here, or, when
  // `offset_terms` is given, handed back for the requantization to add on its pass. `io`:
  // whether x is channels-last, and whether the result may be (runtime/channels_last.h);
  // io.dst_channels_last says on return whether it is.
  Tensor accumulate(const Tensor& x, int32_t xzp, const Tensor& w, const Tensor* wzp, OffsetTerms* offset_terms,
                    ConvKernel::Io& io) {
    DPL_CHECK(x.dtype() == DType::U8 || x.dtype() == DType::I8, "{}: x must be uint8 or int8, got {}", p_.op_name,
              dtype_name(x.dtype()));
    DPL_CHECK(w.dtype() == DType::U8 || w.dtype() == DType::I8, "{}: w must be uint8 or int8, got {}", p_.op_name,
              dtype_name(w.dtype()));
    if (wzp) check_quant_param(p_.op_name, "w_zero_point", *wzp, w.dim(0), true);
    if (!w_.constant) pack(w, wzp);
    if (!w_.use_dnnl || x.rank() < 3) io.dst_channels_last = false;
    if (!w_.use_dnnl && io.src_channels_last) {
      io.src_channels_last = false;
      return accumulate(channels_last_to_plain(x), xzp, w, wzp, offset_terms, io);
    }
    if (w_.use_dnnl) {
      if (w_.kernel_input != x.dtype()) {
        ConvParams kp = p_;
        kp.src_type = x.dtype();
        kp.wei_type = DType::I8;
        kp.dst_type = DType::I32;
        kp.src_zero_point = true;
        kp.has_bias = false;
        kernel_.init(kp, w_.constant ? &w_.w8 : nullptr, nullptr);
        w_.kernel_input = x.dtype();
      }
      Tensor acc = kernel_.run(x, w_.w8, nullptr, {}, xzp, io);
      if (!w_.offset.empty()) {
        const ConvGeometry g = conv_geometry(p_, x.shape(), w.shape());
        // [N, G, positions] for a plain x, [N, positions, G] for a channels-last one; the
        // requantization of a channels-last result reads them position by position.
        const int64_t positions = acc.numel() / std::max<int64_t>(g.N * g.M, 1);
        Tensor sums;
        if (io.src_channels_last) {
          sums = Tensor(DType::I32, Shape{g.N, positions, g.G});
          if (sums.numel() > 0) {
            if (x.dtype() == DType::U8)
              window_sums_channels_last(g, x.data<uint8_t>(), xzp, sums.data<int32_t>());
            else
              window_sums_channels_last(g, x.data<int8_t>(), xzp, sums.data<int32_t>());
          }
          if (!io.dst_channels_last && g.G > 1) sums = ops::transpose_tensor(sums, {0, 2, 1});
        } else {
          sums = Tensor(DType::I32, Shape{g.N, g.G, positions});
          if (sums.numel() > 0) {
            if (x.dtype() == DType::U8)
              window_sums(g, x.data<uint8_t>(), xzp, sums.data<int32_t>());
            else
              window_sums(g, x.data<int8_t>(), xzp, sums.data<int32_t>());
          }
          if (io.dst_channels_last && g.G > 1) sums = ops::transpose_tensor(sums, {0, 2, 1});
        }
        // One group: [N, 1, positions] and [N, positions, 1] are the same memory.
        if (g.G == 1) sums = sums.reshaped(Shape{g.N, 1, positions});
        if (offset_terms) {
          *offset_terms = {w_.offset.data(), std::move(sums), g.M / std::max<int64_t>(g.G, 1)};
        } else {
          add_offset_terms(OffsetTerms{w_.offset.data(), std::move(sums), g.M / std::max<int64_t>(g.G, 1)}, acc);
        }
      }
      return acc;
    }
    ConvGeometry g = conv_geometry(p_, x.shape(), w.shape());
    Tensor y(DType::I32, g.y_shape);
    if (y.numel() > 0) conv_acc_ref(g, x, xzp, w_.w32, y.data<int32_t>());
    return y;
  }

 private:
  void pack(const Tensor& w, const Tensor* wzp) {
    w_.w32 = shifted_weights(w, wzp);
    const int64_t M = w.rank() >= 1 ? w.dim(0) : 0, per = M ? w.numel() / M : 0;
    w_.choose_path(w, M, [per](int64_t i) { return i / per; });
  }

  ConvParams p_;
  ShiftedWeights w_;
  ConvKernel kernel_;
};

// One position of requantize_channels_last(): M channels, per-channel multiplier and integer
// term (bias + offset terms). Restrict-qualified so the loop vectorizes (see requantize_row);
// not inlined: GCC 12 vectorizes the function but not its copy inlined into the parallel loop.
template <typename Q>
__attribute__((noinline)) void requantize_channels(const int32_t* __restrict a, Q* __restrict y, int64_t M, const int32_t* __restrict term,
                         const float* __restrict mult, float zp) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  for (int64_t m = 0; m < M; ++m) {
    float v = round_half_even(static_cast<float>(a[m] + term[m]) * mult[m]) + zp;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    y[m] = static_cast<Q>(v);
  }
}

// One position's integer terms: bias + offset[m] times the window sum of m's group (one sum
// for one group, one per channel for depthwise layers). Restrict-qualified and not inlined
// for the same reason as requantize_channels.
__attribute__((noinline)) void row_terms(int32_t* __restrict t, const int32_t* __restrict add,
                                         const int32_t* __restrict off, const int32_t* __restrict sums, int64_t M,
                                         int64_t G, int64_t Mg) {
  if (G == 1) {
    const int32_t v = sums[0];
    for (int64_t m = 0; m < M; ++m) t[m] = add[m] + off[m] * v;
  } else if (Mg == 1) {
    for (int64_t m = 0; m < M; ++m) t[m] = add[m] + off[m] * sums[m];
  } else {
    for (int64_t m = 0; m < M; ++m) t[m] = add[m] + off[m] * sums[m / Mg];
  }
}

// requantize_output() for a channels-last accumulator: `rows` positions (batch included) of
// M channels each; the offset terms' sums are [N, positions, G] here (or [N, 1, positions]
// with one group). The per-channel values are laid out once so the channel loop vectorizes.
Tensor requantize_channels_last(const QLinearInputs& q, const Tensor& acc, int64_t rows, int64_t M,
                                const int32_t* bias, const OffsetTerms* offsets) {
  const float xsv = q.x_scale.data<float>()[0], ysv = q.y_scale.data<float>()[0];
  std::vector<float> mult(static_cast<size_t>(M));
  std::vector<int32_t> add(static_cast<size_t>(M), 0), off(static_cast<size_t>(M), 0);
  for (int64_t m = 0; m < M; ++m) {
    mult[m] = xsv * q.w_scale.data<float>()[q.w_scale.numel() > 1 ? m : 0] / ysv;
    if (bias) add[m] = bias[m];
    if (offsets) off[m] = offsets->offset[m];
  }
  const int64_t G = offsets ? M / offsets->per_group : 1, Mg = offsets ? offsets->per_group : M;
  const float zp = static_cast<float>(zp_at(q.y_zp));
  Tensor y(q.y_type, acc.shape());
  // Rows go in blocks of R: with few channels one row is shorter than a vector register of
  // uint8 results and would run scalar, so the per-channel values are repeated R times and a
  // block is one loop of R * M.
  const int64_t R = std::max<int64_t>(1, (256 + M - 1) / std::max<int64_t>(M, 1));
  std::vector<float> mult_r(static_cast<size_t>(R * M));
  for (int64_t i = 0; i < R * M; ++i) mult_r[i] = mult[i % M];
  auto run = [&](auto* yd) {
    const int32_t* a = acc.data<int32_t>();
    const int32_t* sums = offsets ? offsets->sums.data<int32_t>() : nullptr;
    parallel_for(
        rows,
        [&](int64_t r0, int64_t r1) {
          std::vector<int32_t> term(static_cast<size_t>(R * M));
          for (int64_t r = r0; r < r1; r += R) {
            const int64_t rn = std::min(R, r1 - r);
            for (int64_t j = 0; j < rn; ++j) {
              int32_t* t = term.data() + j * M;
              if (!sums) {
                std::copy(add.begin(), add.end(), t);
                continue;
              }
              // Row r + j (image n, position p) has its G sums at (r + j) * G ([N, P, G]), or one.
              row_terms(t, add.data(), off.data(), sums + (G > 1 ? (r + j) * G : r + j), M, G, Mg);
            }
            requantize_channels(a + r * M, yd + r * M, rn * M, term.data(), mult_r.data(), zp);
          }
        },
        std::max<int64_t>(1, 4096 / std::max<int64_t>(M, 1)));
  };
  if (y.numel() > 0) {
    if (q.y_type == DType::U8) run(y.data<uint8_t>());
    else run(y.data<int8_t>());
  }
  return y;
}

class QLinearConvOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    ConvParams p = ConvParams::from_node(node, false);
    name_ = p.op_name;
    check_qlinear_node(node, name_);
    conv_.init(std::move(p), node, 3, 5);
  }

  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const QLinearInputs q = qlinear_inputs(name_, in, "x");
    const Tensor* bias = in.size() > 8 ? in[8] : nullptr;
    const int64_t M = q.w.rank() >= 1 ? q.w.dim(0) : 0;
    check_quant_param(name_, "w_scale", q.w_scale, M, true);
    if (q.x_zp) DPL_CHECK(q.x_zp->dtype() == q.x.dtype(), "{}: x_zero_point type differs from x", name_);
    if (bias) {
      DPL_CHECK(bias->dtype() == DType::I32 && bias->numel() == M, "{}: B must be int32 with {} values, got {} {}",
                name_, M, dtype_name(bias->dtype()), shape_str(bias->shape()));
    }
    OffsetTerms offsets;
    ConvKernel::Io io{ctx.input_channels_last(0), ctx.channels_last_out_ok};
    Tensor acc = conv_.accumulate(q.x, zp_at(q.x_zp), q.w, q.w_zp, &offsets, io);
    const int64_t N = acc.dim(0), inner = M ? acc.numel() / std::max<int64_t>(N * M, 1) : 0;
    const int32_t* b = bias ? bias->data<int32_t>() : nullptr;
    if (io.dst_channels_last) {
      out[0] = requantize_channels_last(q, acc, N * inner, M, b, offsets.offset ? &offsets : nullptr);
      ctx.out_channels_last[0] = 1;
    } else {
      out[0] = requantize_output(q, acc, N, M, inner, b, offsets.offset ? &offsets : nullptr);
    }
  }
  bool accepts_channels_last(size_t input) const override { return input == 0; }
  KernelInfo kernel_info() override { return {conv_.path(), {}, {}, {}}; }

 private:
  std::string name_;
  IntConv conv_;
};

class ConvIntegerOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    ConvParams p = ConvParams::from_node(node, false);
    name_ = p.op_name;
    conv_.init(std::move(p), node, 1, 3);
  }
  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor* xzp = in.size() > 2 ? in[2] : nullptr;
    const Tensor* wzp = in.size() > 3 ? in[3] : nullptr;
    if (xzp) check_quant_param(name_, "x_zero_point", *xzp, 1, false);
    ConvKernel::Io plain;
    out[0] = conv_.accumulate(*in[0], zp_at(xzp), *in[1], wzp, nullptr, plain);
  }
  KernelInfo kernel_info() override { return {conv_.path(), {}, {}, {}}; }

 private:
  std::string name_;
  IntConv conv_;
};

}  // namespace

DPL_REGISTER_OP("QLinearConv", QLinearConvOp);
DPL_REGISTER_OP("ConvInteger", ConvIntegerOp);

}  // namespace dpl
