// The operator interface. One small class per operator (or family), registered by its ONNX
// op type in a flat registry (ops/*.cpp), as ncnn does with layers.
//
// Life cycle: the session creates one Op per graph node, calls init() once with the node's
// attributes and constant inputs (weights can be reordered/packed there), then forward()
// for every batch. Shapes may change between calls (batch size, dynamic H/W), so kernels
// that cache work keyed on shapes must check them. Training (reconstruction) calls
// backward() after forward() with the same inputs; the backward pass of an op lives beside
// its forward, in the same file.
#pragma once
#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "runtime/node_desc.h"
#include "util/error.h"

namespace dpl {

struct OpContext {
  // Threads of the session that runs the op (the calling thread's runtime/parallel.h count).
  int threads = 1;
  // Batch size the model was exported with (dim 0 of its first input) and the batch
  // actually fed. Reshape uses them to rescale a literal batch dimension.
  int64_t declared_batch = 0;
  int64_t actual_batch = 0;
  // Channels-last tensors (runtime/channels_last.h), set by the session: per input, whether
  // it is channels-last (only for inputs the op accepts so, Op::accepts_channels_last);
  // whether the op may leave its outputs channels-last, and per output whether it did.
  std::vector<char> in_channels_last;
  bool channels_last_out_ok = false;
  std::vector<char> out_channels_last;
  bool input_channels_last(size_t k) const { return k < in_channels_last.size() && in_channels_last[k]; }
  // Per input, set by the session: whether the op may write its outputs into the input's
  // buffer (this node is its last reader, reads it once, and the session holds the only
  // reference), as a convolution accumulates into its residual operand (ops/conv.cpp).
  std::vector<char> in_writable;
  bool input_writable(size_t k) const { return k < in_writable.size() && in_writable[k]; }
};

// One call of an element-wise kernel on float32 spans (the element-wise islands of
// runtime/fusion.h): y[i] from element i of each input. Per input: present (not omitted);
// in[k] its values, or one value for every i when scalar[k]; in[k] null for a present input
// that is not float32 (a constant the kernel took when it was initialized).
struct SpanArgs {
  static constexpr size_t kMaxInputs = 8;
  std::array<const float*, kMaxInputs> in{};
  std::array<bool, kMaxInputs> scalar{};
  std::array<bool, kMaxInputs> present{};
  size_t inputs = 0;
  float* y = nullptr;
  int64_t n = 0;
};

// What backward() reads and writes. The caller keeps the forward pass's tensors.
struct GradArgs {
  std::vector<const Tensor*> inputs;        // as forward() got them (nullptr: omitted input)
  std::vector<const Tensor*> outputs;       // what forward() produced
  std::vector<const Tensor*> grad_outputs;  // dL/d(output k), its shape; nullptr: no gradient reaches it
  std::vector<bool> wants;                  // per input: whether dL/d(input) is needed
  std::span<Tensor> grad_inputs;            // per input: set to dL/d(input) where wanted
};

// Which library implementation ran a node's last forward(), for tests and diagnostics
// (Session::kernel_info): the rule that no fused node runs on a slow implementation
// (docs/perf-notes.md, "Fused kernels on fast implementations only") is checked on it.
struct KernelInfo {
  std::string impl;        // e.g. oneDNN's "brgconv:avx512_core"; "direct ..." for our own loops; empty: not told
  std::string impl_alone;  // what the library picks for the same call without library_post_ops
  std::vector<std::string> library_post_ops;   // fused inside the library call ("binary_add", "eltwise_relu")
  std::vector<std::string> separate_post_ops;  // fused into the node but applied after that call
};

class Op {
 public:
  virtual ~Op() = default;
  virtual void init(const NodeDesc& node) { (void)node; }
  // inputs[i] is nullptr for an omitted optional input. outputs has one (undefined)
  // Tensor per node output; the kernel allocates and fills them.
  virtual void forward(OpContext& ctx, const std::vector<const Tensor*>& inputs,
                       std::vector<Tensor>& outputs) = 0;
  // Fusion in inference sessions (SessionOptions::fuse, runtime/fusion.h): the session
  // offers the node that consumes this op's output. `extra_inputs_ready` says whether the
  // follower's other operands are computed before this node runs. Returning true makes the
  // session drop the follower and pass it to init() in NodeDesc::absorbed. Called before
  // init(). Synthetic follower types: kSwishOp, "dpl.Swish" (x * Sigmoid(x), YOLOX's SiLU).
  virtual bool can_absorb(const NodeDesc& self, const NodeDesc& follower, bool extra_inputs_ready) const {
    (void)self, (void)follower, (void)extra_inputs_ready;
    return false;
  }
  // forward() of an element-wise kernel over float32 spans, with forward()'s bits; false,
  // doing nothing, where the kernel has no span form (the island then runs forward()).
  virtual bool forward_span(const SpanArgs& args) {
    (void)args;
    return false;
  }
  // What ran the last forward() (empty before the first, or for kernels with nothing to tell).
  virtual KernelInfo kernel_info() { return {}; }
  // Whether forward() takes input k channels-last (OpContext::in_channels_last).
  virtual bool accepts_channels_last(size_t input) const {
    (void)input;
    return false;
  }
  // Reconstruction (AdaRound/BRECQ) trains regions of the graph; an op reports whether it
  // has a backward pass so the trainer can refuse a region it cannot train.
  virtual bool has_backward() const { return false; }
  // Fills args.grad_inputs[i] with dL/d(input i) for every wanted input, from the forward
  // pass's tensors and dL/d(outputs). Callers name the node in errors, as for forward().
  virtual void backward(OpContext& ctx, const GradArgs& args) {
    (void)ctx, (void)args;
    fail("no backward pass for this operator");
  }
};

}  // namespace dpl
