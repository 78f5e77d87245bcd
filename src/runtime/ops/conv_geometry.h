// What a convolution is asked to compute (ConvParams, read once from the node's ONNX
// attributes by ConvParams::from_node for Conv, ConvTranspose, QLinearConv and ConvInteger)
// and the sizes it resolves to for one input/weight shape (ConvGeometry): output shape,
// pads after auto_pad, and for ConvTranspose the part the primitive computes.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/node_desc.h"
#include "runtime/ops/post_ops.h"

namespace dpl {

struct ConvParams {
  bool transposed = false;  // ConvTranspose (deconvolution)
  int64_t group = 1;
  std::string auto_pad = "NOTSET";
  // ONNX attributes as given; empty means the default (kernel_shape from the weights,
  // strides/dilations 1, pads/output_padding 0, no output_shape).
  std::vector<int64_t> kernel_shape, strides, dilations, pads, output_padding, output_shape;
  std::vector<PostOp> post_ops;
  // Element types. Float: all F32. Integer (QLinearConv/ConvInteger): src U8/I8, weights I8,
  // dst I32 accumulators; src_zero_point adds a run-time zero point for the source.
  DType src_type = DType::F32, wei_type = DType::F32, dst_type = DType::F32;
  bool src_zero_point = false;
  bool has_bias = false;  // a bias (F32, [M]) is passed to ConvKernel::run()
  // The oneDNN propagation kind of the primitive: inference, or forward_training for a
  // session that will run the backward pass from it.
  dnnl::prop_kind prop_kind = dnnl::prop_kind::forward_inference;
  std::string op_name = "Conv";  // for error messages

  // The attributes shared by the conv family (group, auto_pad, kernel_shape, strides,
  // dilations, pads; with `transposed` also output_padding and output_shape) and an
  // op_name "<op_type> '<node name>'". Bias, post-ops and element types are the caller's.
  static ConvParams from_node(const NodeDesc& node, bool transposed);
};

// Resolved sizes for one input/weight shape.
struct ConvGeometry {
  int64_t N = 0, C = 0, M = 0, G = 1;  // batch, input channels, output channels, groups
  int nsp = 0;                         // spatial rank
  std::vector<int64_t> in, kernel, strides, dilations, pads_begin, pads_end, out;
  Shape y_shape;
  // ConvTranspose only: pads can be negative (an output_shape larger than the natural one),
  // then the primitive computes `prim_out` with pads clamped at 0 and its result lands at
  // offset `out_offset` of the output, the rest holding the bias.
  std::vector<int64_t> prim_out, out_offset;
  bool needs_expand = false;
};

// Validates the shapes against the attributes (throws dpl::Error with a one-line message).
ConvGeometry conv_geometry(const ConvParams& p, const Shape& x, const Shape& w);

// With needs_expand: where position q of one primitive output plane (prim_out) lands in one
// output plane (out), or -1 outside it. The forward places values there, the backward reads
// its gradient from there.
int64_t expanded_index(const ConvGeometry& g, int64_t q);

// The ONNX weight layout of these sizes as a oneDNN descriptor: (g, oc/g, ic/g, k...) or
// (oc, ic, k...), a strided view of the ONNX tensor (conv_onednn.cpp; the backward passes
// in conv_grad.cpp use it too).
dnnl::memory::desc user_weight_desc(const ConvParams& p, const ConvGeometry& g);

}  // namespace dpl
