// Convolution and transposed convolution, shared by Conv, ConvTranspose, QLinearConv and
// ConvInteger. Plain (NCHW row-major) tensors in and out; three paths, chosen per layer:
//   * oneDNN (conv_onednn.cpp): the first forward with a given (input shape, weight shape,
//     thread count) creates the primitive, letting oneDNN pick the weight layout, and
//     reorders constant weights into it once. A few entries are kept (LRU), so a batch or
//     H/W change makes a new primitive without losing the old one. The activation layout
//     (plain, or oneDNN's choice with reorders around the primitive) is chosen per layer
//     from measurements (docs/perf-notes.md). Post-ops become oneDNN post-ops, except a
//     residual Add (and what follows it) where the implementation oneDNN picks would apply
//     it slowly: those run after the primitive.
//   * direct depthwise (conv_depthwise.cpp): wide float depthwise 2-D convolutions;
//   * GEMM + col2im (deconv_gemm.cpp): float group-1 2-D ConvTranspose.
// The two direct paths apply the post-ops themselves (post_ops.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/dnnl_util.h"
#include "runtime/op.h"
#include "runtime/ops/conv_geometry.h"
#include "runtime/ops/matmul_kernel.h"
#include "runtime/ops/post_ops.h"

namespace dpl {

// Memory orders of a convolution's X and Y: channels-last ([N, spatial..., C] for the
// logical shape [N, C, spatial...], runtime/channels_last.h) instead of plain. oneDNN path
// only: 2-D float convolutions and the integer ones.
struct ConvIo {
  bool src_channels_last = false, dst_channels_last = false;
  // The caller lets the output overwrite the operand of the first post-op, a residual
  // BinaryAdd: oneDNN then accumulates into it (its sum post-op) instead of reading it
  // as a second input, one pass over memory less (docs/perf-notes.md, "Residual Add in
  // place"). Used where the primitive writes the operand's layout with the same
  // implementation it picks without post-ops.
  bool add_in_place = false;
  bool operator==(const ConvIo&) const = default;
  bool plain() const { return !src_channels_last && !dst_channels_last; }
};

class ConvKernel {
 public:
  struct Entry;  // one oneDNN primitive and its descriptors (opaque; conv_onednn.cpp)

  ConvKernel();
  ~ConvKernel();
  ConvKernel(const ConvKernel&) = delete;
  ConvKernel& operator=(const ConvKernel&) = delete;

  // const_w/const_b: the weights/bias when they are constants (kept, shared), else nullptr.
  void init(ConvParams p, const Tensor* const_w, const Tensor* const_b);
  const ConvParams& params() const { return p_; }

  using Io = ConvIo;

  // w is ignored when constant weights were given to init(). binary_args: one tensor per
  // BinaryAdd post-op, in order. src_zp: the source zero point when params().src_zero_point.
  Tensor run(const Tensor& x, const Tensor& w, const Tensor* b, const std::vector<const Tensor*>& binary_args = {},
             int32_t src_zp = 0, Io io = {});

  // The oneDNN primitive used for these shapes (created if needed): its implementation name
  // and how many of params().post_ops it applies (the rest run after it). For tests and
  // diagnostics; meaningless on the direct paths.
  struct PrimitiveInfo {
    std::string impl;
    size_t onednn_post_ops = 0;
  };
  PrimitiveInfo primitive_info(const Shape& x, const Shape& w);
  // Whether a float convolution of these shapes writes its output channels-last when the
  // session allows it: 2-D, not transposed, and X is channels-last already, or a residual
  // operand is (`operand_channels_last`), or the layer would reorder a plain X anyway (not a
  // plain-GEMM 1x1 layer, not the direct depthwise kernel).
  bool channels_last_out(const Shape& x, const Shape& w, bool src_channels_last, bool operand_channels_last) const;
  // What ran the last run() (Op::kernel_info): the oneDNN primitive with the post-ops it
  // applies and those run after it, and the implementation oneDNN picks for the same
  // convolution without post-ops; or the direct path's name.
  KernelInfo last_kernel_info();

 private:
  // The bias to use: the constant one, `b`, or nullptr without bias.
  const Tensor* bias_for(const Tensor* b) const;

  // oneDNN path (conv_onednn.cpp).
  Tensor run_onednn(const Tensor& x, const Tensor& w, const Tensor* b, const std::vector<const Tensor*>& binary_args,
                    int32_t src_zp, Io io);
  Entry& entry_for(const Shape& x, const Shape& w, Io io = {});
  std::unique_ptr<Entry> create_entry(const Shape& x, const Shape& w, Io io);
  void pack_constant_weights(Entry& e, const Shape& w);
  dnn::memory weights_for(Entry& e, const Tensor& w);
  void expand_output(const ConvGeometry& g, const Tensor& prim_y, const Tensor* b, Tensor& y) const;

  // Direct paths.
  Tensor run_depthwise(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                       const std::vector<const Tensor*>& binary_args);
  Tensor run_deconv_gemm(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                         const std::vector<const Tensor*>& binary_args);

  enum class Path { None, OneDnn, Depthwise, DeconvGemm };
  Path last_path_ = Path::None;
  Shape last_x_, last_w_;
  Io last_io_;

  ConvParams p_;
  Tensor const_w_, const_b_;
  bool has_const_w_ = false, has_const_b_ = false;
  std::vector<std::unique_ptr<Entry>> cache_;  // most recently used first
  std::unique_ptr<MatMulKernel> deconv_mm_;  // ConvTranspose as GEMM + col2im
  // Reordered constant weights, shared by entries that want the same layout.
  std::vector<std::pair<dnn::memory::desc, dnn::memory>> packed_w_;
};

// Path selection for float 2-D layers (conv_depthwise.cpp, deconv_gemm.cpp).
bool direct_depthwise(const ConvParams& p, const ConvGeometry& g);
// Whether a float layer on plain tensors runs best with plain source and destination in
// oneDNN (large unpadded 1x1: a plain GEMM) rather than oneDNN's layout (docs/perf-notes.md).
bool prefer_plain(const ConvParams& p, const ConvGeometry& g);
bool gemm_deconv(const ConvParams& p, const ConvGeometry& g);

}  // namespace dpl
