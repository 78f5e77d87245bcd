// ConvTranspose as one GEMM and a col2im scatter: col[n] (OC*KH*KW x H*W) = W^T x[n], then
// y[n, oc, i*s - p + kh*d, j*s - p + kw*d] += col[n, (oc, kh, kw), (i, j)] over a bias-filled
// output. oneDNN 2.6's deconvolution is slow on the small-channel, large-image layers of
// detector necks. Rule: every float group-1 2-D ConvTranspose takes this path
// (measurements: docs/perf-notes.md).
#include <algorithm>

#include "runtime/ops/conv_kernel.h"
#include "runtime/parallel.h"

namespace dpl {

namespace {

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

bool gemm_deconv(const ConvParams& p, const ConvGeometry& g) {
  if (!p.transposed || p.src_type != DType::F32 || p.dst_type != DType::F32) return false;
  if (p.prop_kind != dnnl::prop_kind::forward_inference) return false;  // backward wants oneDNN's forward
  return g.nsp == 2 && g.G == 1;
}

Tensor ConvKernel::run_deconv_gemm(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                                   const std::vector<const Tensor*>& binary_args) {
  Tensor y(DType::F32, g.y_shape);
  if (y.numel() == 0) return y;
  const DirectOperands ops = collect_operands(p_, g, bias_for(b), binary_args);
  const int64_t HW = g.in[0] * g.in[1], K = g.C, M = g.M * g.kernel[0] * g.kernel[1];
  const int64_t OHW = g.out[0] * g.out[1];
  // col[n] = W^T (M x K) x[n] (K x HW). ONNX W is (K, M) row-major: W^T is a strided view.
  float* col = static_cast<float*>(
      dnn::scratch(dnn::ScratchSlot::DeconvColumns, static_cast<size_t>(g.N * M * HW) * sizeof(float)));
  if (!deconv_mm_) {
    deconv_mm_ = std::make_unique<MatMulKernel>();
    MatMulParams mp;
    mp.op_name = p_.op_name;
    deconv_mm_->init(mp, nullptr);
  }
  deconv_mm_->run_raw(w.raw(), {1, M, K}, {M * K, 1, M}, x.raw(), {g.N, K, HW}, {K * HW, HW, 1}, nullptr, {}, col,
                      {g.N, M, HW});
  float* yd = y.data<float>();
  const float* bd = ops.bias;
  const std::vector<PostOp>& post = p_.post_ops;
  parallel_for(
      g.N * g.M,
      [&](int64_t p0, int64_t p1) {
        for (int64_t pl = p0; pl < p1; ++pl) {
          const int64_t n = pl / g.M, oc = pl % g.M;
          float* yp = yd + pl * OHW;
          std::fill_n(yp, OHW, bd ? bd[oc] : 0.f);
          col2im_add(g, col + n * M * HW, yd + n * g.M * OHW, oc, oc + 1);
          if (!post.empty()) post_ops_row(post, yp, OHW, pl * OHW, ops.binary);
        }
      },
      1);
  return y;
}

}  // namespace dpl
