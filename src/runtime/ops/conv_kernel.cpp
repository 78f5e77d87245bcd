// ConvKernel::run: checks the element types and picks the path for the layer (see
// conv_kernel.h); the paths live in conv_onednn.cpp, conv_depthwise.cpp and deconv_gemm.cpp.
#include "runtime/ops/conv_kernel.h"

namespace dpl {

const Tensor* ConvKernel::bias_for(const Tensor* b) const {
  return p_.has_bias ? (has_const_b_ ? &const_b_ : b) : nullptr;
}

bool ConvKernel::channels_last_out(const Shape& x, const Shape& w, bool src_channels_last,
                                   bool operand_channels_last) const {
  if (p_.src_type != DType::F32 || p_.dst_type != DType::F32 || p_.transposed || x.size() != 4 || w.size() != 4 ||
      shape_numel(x) == 0 || shape_numel(w) == 0)
    return false;
  if (src_channels_last || operand_channels_last) return true;
  const ConvGeometry g = conv_geometry(p_, x, w);
  return !prefer_plain(p_, g) && !direct_depthwise(p_, g);
}

Tensor ConvKernel::run(const Tensor& x, const Tensor& w, const Tensor* b, const std::vector<const Tensor*>& binary_args,
                       int32_t src_zp, Io io) {
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
  last_x_ = x.shape();
  last_w_ = wt.shape();
  last_io_ = io;
  if (p_.src_type == DType::F32 && x.rank() == 4 && wt.rank() == 4 && (p_.group > 1 || p_.transposed) && io.plain()) {
    ConvGeometry g = conv_geometry(p_, x.shape(), wt.shape());
    if (direct_depthwise(p_, g)) {
      last_path_ = Path::Depthwise;
      return run_depthwise(g, x, wt, b, binary_args);
    }
    if (gemm_deconv(p_, g)) {
      last_path_ = Path::DeconvGemm;
      return run_deconv_gemm(g, x, wt, b, binary_args);
    }
  }
  last_path_ = Path::OneDnn;
  return run_onednn(x, wt, b, binary_args, src_zp, io);
}

}  // namespace dpl
