// Convolution and transposed convolution on oneDNN, shared by Conv, ConvTranspose,
// QLinearConv and ConvInteger.
//
// A ConvKernel is created once per graph node. init() records the ONNX attributes and the
// constant weights; the first forward with a given (input shape, weight shape, thread
// count) creates the oneDNN primitive, letting oneDNN pick the weight layout
// (format_tag::any), and reorders constant weights into it once. A few entries are kept
// (LRU), so a batch or H/W change makes a new primitive without losing the old one.
// Weights produced at run time are reordered on every call.
//
// Activation layout (src/dst) is chosen per layer by ConvParams::src_layout/dst_layout:
// Plain is the tensor's own NCHW row-major layout; Blocked lets oneDNN choose (nChw16c on
// AVX-512), with reorders from/to NCHW around the primitive when run() is given plain
// tensors. Auto picks per layer from measurements (see prefer_plain() and
// direct_depthwise() in conv_kernel.cpp). With plain tensors two layers bypass oneDNN's
// convolution primitives: wide depthwise convolutions (a direct NCHW kernel) and group-1
// 2-D ConvTranspose (oneDNN matmul + col2im); both apply the post-ops themselves.
//
// For a later session-level pass:
//  (a) prepare() returns the entry with the src/dst descriptors the primitive uses, and
//      execute() takes oneDNN memories in those layouts, so consecutive oneDNN ops can pass
//      blocked activations without reorders (ask for Blocked, or pass the producer's
//      descriptor as src_hint);
//  (b) ConvParams::post_ops fuses elementwise activations and a residual add/sum into the
//      primitive (binary operands are passed to run()/execute() in post-op order).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/dnnl_util.h"
#include "runtime/ops/matmul_kernel.h"
#include "core/tensor.h"

namespace dpl {

// One operation fused after the convolution, applied in list order.
struct PostOp {
  enum class Kind {
    Relu,         // max(x, 0)
    LeakyRelu,    // x >= 0 ? x : alpha * x
    Clip,         // min(max(x, alpha), beta)
    Sigmoid,      // 1 / (1 + exp(-x))
    Swish,        // x * sigmoid(alpha * x)   (SiLU: alpha = 1)
    HardSigmoid,  // max(0, min(1, alpha * x + beta))
    HardSwish,    // x * max(0, min(1, x / 6 + 0.5))
    Tanh,
    BinaryAdd,    // x + operand  (operand: a tensor of the output's shape, or broadcastable)
    Sum,          // x + scale * (previous contents of dst): dst must hold the addend
  };
  Kind kind = Kind::Relu;
  float alpha = 0.f, beta = 0.f;
  float scale = 1.f;  // Sum only
};

enum class ActLayout {
  Auto,     // choose per layer (plain for unpadded 1x1 convs on >= 128 pixels and for the
            // direct depthwise kernel, blocked otherwise; see conv_kernel.cpp)
  Plain,    // the dense NCHW layout
  Blocked,  // whatever oneDNN prefers (format_tag::any)
};

struct ConvParams {
  bool transposed = false;  // ConvTranspose (deconvolution)
  int64_t group = 1;
  std::string auto_pad = "NOTSET";
  // ONNX attributes as given; empty means the default (kernel_shape from the weights,
  // strides/dilations 1, pads/output_padding 0, no output_shape).
  std::vector<int64_t> kernel_shape, strides, dilations, pads, output_padding, output_shape;
  std::vector<PostOp> post_ops;
  ActLayout src_layout = ActLayout::Auto, dst_layout = ActLayout::Auto;
  // Element types. Float: all F32. Integer (QLinearConv/ConvInteger): src U8/I8, weights I8,
  // dst I32 accumulators; src_zero_point adds a run-time zero point for the source.
  DType src_type = DType::F32, wei_type = DType::F32, dst_type = DType::F32;
  bool src_zero_point = false;
  bool has_bias = false;  // a bias (F32, [M]) is passed to run()/execute()
  std::string op_name = "Conv";  // for error messages
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

class ConvKernel {
 public:
  struct Entry;

  ConvKernel();
  ~ConvKernel();
  ConvKernel(const ConvKernel&) = delete;
  ConvKernel& operator=(const ConvKernel&) = delete;

  // const_w/const_b: the weights/bias when they are constants (kept, shared), else nullptr.
  void init(ConvParams p, const Tensor* const_w, const Tensor* const_b);
  const ConvParams& params() const { return p_; }

  // Plain tensors in and out. w is ignored when constant weights were given to init().
  // binary_args: one tensor per BinaryAdd/Sum post-op, in order. src_zp: the source zero
  // point when params().src_zero_point.
  Tensor run(const Tensor& x, const Tensor& w, const Tensor* b, const std::vector<const Tensor*>& binary_args = {},
             int32_t src_zp = 0);

  // Layout-aware interface. prepare() returns (creating on first use) the primitive for
  // these shapes. Hints, when given, force the primitive's src/dst layouts.
  Entry& prepare(const Shape& x, const Shape& w, const dnn::memory::desc* src_hint = nullptr,
                 const dnn::memory::desc* dst_hint = nullptr);
  // src/dst must have entry_src_desc()/entry_dst_desc() layouts. For a Sum post-op dst
  // must already hold the addend.
  void execute(Entry& e, const dnn::memory& src, const dnn::memory& dst, const Tensor& w, const Tensor* b,
               const std::vector<dnn::memory>& binary_args, int32_t src_zp);
  static const dnn::memory::desc& entry_src_desc(const Entry& e);
  static const dnn::memory::desc& entry_dst_desc(const Entry& e);
  static const ConvGeometry& entry_geometry(const Entry& e);

 private:
  dnn::memory weights_for(Entry& e, const Tensor& w);
  Tensor run_depthwise(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                       const std::vector<const Tensor*>& binary_args);
  Tensor run_deconv_gemm(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* b,
                         const std::vector<const Tensor*>& binary_args);
  std::unique_ptr<Entry> create_entry(const Shape& x, const Shape& w, const dnn::memory::desc* src_hint,
                                      const dnn::memory::desc* dst_hint);

  ConvParams p_;
  Tensor const_w_, const_b_;
  bool has_const_w_ = false, has_const_b_ = false;
  std::vector<std::unique_ptr<Entry>> cache_;  // most recently used first
  std::unique_ptr<MatMulKernel> deconv_mm_;  // ConvTranspose as GEMM + col2im
  // Reordered constant weights, shared by entries that want the same layout.
  std::vector<std::pair<dnn::memory::desc, dnn::memory>> packed_w_;
};

}  // namespace dpl
