// Conv (opset 1-17): 1-D to 3-D, groups (depthwise included), dilations, strides, pads,
// auto_pad, optional bias; on oneDNN through ConvKernel (primitive and packed weights cached
// per input shape).
//
// In fused sessions a Conv absorbs what follows it, in graph order: a BatchNormalization
// with constant parameters (folded into the weights and bias once, at init), then any chain
// of activations (Relu, LeakyRelu, Clip with constant bounds, Sigmoid, HardSigmoid,
// HardSwish, Tanh), at most one residual Add (or Sum of two) and the per-tensor
// QuantizeLinear -> DequantizeLinear pair of a QDQ model's activation, all applied as oneDNN
// post-ops while the output is still in cache.
//
// In a session that allows it, 2-D float convolutions read and write channels-last tensors
// (runtime/channels_last.h, docs/architecture.md "Channels-last tensors"): oneDNN's fast
// float kernels work on NHWC or blocked memory, and plain tensors cost a reorder on each side.
#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/bn_affine.h"
#include "runtime/channels_last.h"
#include "runtime/fusion.h"
#include "runtime/dnnl_util.h"
#include "runtime/op_registry.h"
#include "runtime/ops/conv_grad.h"
#include "runtime/ops/conv_kernel.h"
#include "runtime/ops/fake_quant.h"

namespace dpl {
namespace {

bool all_constant(const NodeDesc& n, size_t first, size_t last) {
  for (size_t i = first; i < last; ++i)
    if (!n.has_input(i) || !n.constant(i) || n.constant(i)->dtype() != DType::F32) return false;
  return true;
}

// Clip bounds: inputs (opset >= 11, constant or omitted) or attributes (older).
bool clip_bounds(const NodeDesc& f, float& lo, float& hi) {
  lo = -std::numeric_limits<float>::max();
  hi = std::numeric_limits<float>::max();
  if (f.opset < 11) {
    lo = f.attrs.get_float("min", lo);
    hi = f.attrs.get_float("max", hi);
    return true;
  }
  for (size_t i = 1; i < 3; ++i) {
    if (!f.has_input(i)) continue;
    const Tensor* t = f.constant(i);
    if (!t || t->numel() != 1 || t->dtype() != DType::F32) return false;
    (i == 1 ? lo : hi) = t->data<float>()[0];
  }
  return true;
}

// A residual addition of two tensors: Add, or Sum of two (older exports, ResNet-50 among them).
bool residual_add(const NodeDesc& f) {
  return (f.op_type == "Add" || f.op_type == "Sum") && f.inputs.size() == 2;
}

// Name of the conv's own output before fusion: the first absorbed node reads it.
std::string conv_output_name(const NodeDesc& node) {
  const NodeDesc& f = node.absorbed.front();
  // The follower's input that is not one of the conv's own inputs or absorbed operands is
  // the conv output; for a Swish or single-input follower it is inputs[0].
  for (const auto& in : f.inputs) {
    bool is_operand = false;
    for (size_t i = node.own_inputs; i < node.inputs.size(); ++i) is_operand |= node.inputs[i] == in;
    if (!is_operand && !in.empty()) return in;
  }
  return f.inputs.empty() ? "" : f.inputs[0];
}

class ConvOp : public Op {
 public:
  bool can_absorb(const NodeDesc& self, const NodeDesc& f, bool extra_ready) const override {
    const std::string& t = f.op_type;
    bool has_add = false;
    for (const auto& a : self.absorbed) has_add |= residual_add(a);
    if (t == "BatchNormalization")
      return self.absorbed.empty() && f.outputs.size() == 1 && f.attrs.get_int("training_mode", 0) == 0 &&
             self.constant(1) && (!self.has_input(2) || self.constant(2)) && all_constant(f, 1, 5);
    // SiLU ("dpl.Swish") is not taken: as a oneDNN post-op it made a whole model slower
    // (docs/perf-notes.md). init() still knows how to apply it.
    if (t == "Relu" || t == "Sigmoid" || t == "HardSigmoid" || t == "HardSwish" || t == "Tanh" || t == "LeakyRelu")
      return true;
    if (t == "Clip") {
      float lo, hi;
      return clip_bounds(f, lo, hi);
    }
    // The fake quantization of the output (docs/perf-notes.md, "Fake quantization inside the
    // convolution"): no extra pass over memory, the same bits.
    if (t == kQuantDequantOp) return per_tensor_constant_pair(f);
    // A residual Add whose other operand is computed already (not a constant: a constant
    // would be a bias, which the graph should carry as one). One per conv: oneDNN takes it
    // as a binary post-op on the output.
    if (residual_add(f)) {
      if (has_add || !extra_ready) return false;
      for (size_t i = 0; i < 2; ++i)
        if (f.constant(i)) return false;
      return true;
    }
    return false;
  }

  void init(const NodeDesc& node) override {
    ConvParams p = ConvParams::from_node(node, false);
    own_inputs_ = node.own_inputs ? node.own_inputs : node.inputs.size();
    p.has_bias = own_inputs_ > 2 && node.has_input(2);
    DPL_CHECK(node.has_input(0) && node.has_input(1), "{}: needs inputs X and W", p.op_name);
    const Tensor* w = node.constant(1);
    const Tensor* b = p.has_bias ? node.constant(2) : nullptr;
    if (w) DPL_CHECK(w->dtype() == DType::F32, "{}: weights must be float32, got {}", p.op_name, dtype_name(w->dtype()));
    // The session appends every absorbed node's other operands (BN parameters included) to
    // the inputs; the residual Add's operand is found by name.
    for (size_t k = 0; k < node.absorbed.size(); ++k) {
      const NodeDesc& f = node.absorbed[k];
      // The tensor this follower reads from the conv chain: the previous follower's output,
      // or the conv's own output for the first.
      const std::string prev = k == 0 ? conv_output_name(node) : node.absorbed[k - 1].outputs[0];
      if (!residual_add(f)) continue;
      const std::string& other = f.inputs[0] == prev ? f.inputs[1] : f.inputs[0];
      for (size_t i = own_inputs_; i < node.inputs.size(); ++i)
        if (node.inputs[i] == other) {
          add_operands_.push_back(i);
          break;
        }
    }
    for (const auto& f : node.absorbed) {
      const std::string& t = f.op_type;
      PostOp op;
      if (t == "BatchNormalization") {
        fold_batch_norm(f, *w, b);
        w = &folded_w_;
        b = &folded_b_;
        p.has_bias = true;
        continue;
      } else if (t == "Relu") {
        op.kind = PostOp::Kind::Relu;
      } else if (t == "LeakyRelu") {
        op.kind = PostOp::Kind::LeakyRelu;
        op.alpha = f.attrs.get_float("alpha", 0.01f);
      } else if (t == "Clip") {
        op.kind = PostOp::Kind::Clip;
        clip_bounds(f, op.alpha, op.beta);
      } else if (t == "Sigmoid") {
        op.kind = PostOp::Kind::Sigmoid;
      } else if (t == "HardSigmoid") {
        op.kind = PostOp::Kind::HardSigmoid;
        op.alpha = f.attrs.get_float("alpha", 0.2f);
        op.beta = f.attrs.get_float("beta", 0.5f);
      } else if (t == "HardSwish") {
        op.kind = PostOp::Kind::HardSwish;
      } else if (t == "Tanh") {
        op.kind = PostOp::Kind::Tanh;
      } else if (t == kSwishOp) {
        op.kind = PostOp::Kind::Swish;
        op.alpha = 1.f;
      } else if (residual_add(f)) {
        op.kind = PostOp::Kind::BinaryAdd;
      } else if (t == kQuantDequantOp) {
        op.kind = PostOp::Kind::FakeQuant;
        op.fq = pair_constants(p.op_name + " + QuantizeLinear -> DequantizeLinear", f);
      } else {
        fail("{}: cannot apply an absorbed {}", p.op_name, t);
      }
      p.post_ops.push_back(op);
    }
    absorbed_none_ = node.absorbed.empty();
    kernel_.init(std::move(p), w, b);
  }

  // Backward (conv_grad.h) for a conv that absorbed nothing: training sessions are unfused.
  bool has_backward() const override { return absorbed_none_; }
  void backward(OpContext&, const GradArgs& args) override {
    DPL_CHECK(absorbed_none_, "{}: no backward pass for a convolution with fused operators", kernel_.params().op_name);
    conv_backward(grad_, kernel_.params(), args);
  }

  // Channels-last tensors (runtime/channels_last.h): X and the residual Add's operand.
  bool accepts_channels_last(size_t input) const override {
    return input == 0 || std::find(add_operands_.begin(), add_operands_.end(), input) != add_operands_.end();
  }

  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const ConvParams& p = kernel_.params();
    DPL_CHECK(in[0]->dtype() == DType::F32, "{}: only float32 input is supported, got {}", p.op_name,
              dtype_name(in[0]->dtype()));
    const Tensor* bias = own_inputs_ > 2 ? in[2] : nullptr;
    if (folded_b_.defined()) bias = &folded_b_;
    const Tensor& w = folded_w_.defined() ? folded_w_ : *in[1];
    // The layouts: channels-last output where the layer takes it (ConvKernel::channels_last_out),
    // a channels-last X converted where it does not, and the residual operands in the output's.
    const Tensor* x = in[0];
    converted_.resize(add_operands_.size() + 1);  // before any pointer into it is taken
    ConvKernel::Io io{ctx.input_channels_last(0), false};
    bool operand_last = false;
    for (size_t i : add_operands_) operand_last = operand_last || ctx.input_channels_last(i);
    io.dst_channels_last = ctx.channels_last_out_ok &&
                           kernel_.channels_last_out(x->shape(), w.shape(), io.src_channels_last, operand_last);
    if (io.src_channels_last && !io.dst_channels_last) {
      converted_[0] = channels_last_to_plain(*x);
      x = &converted_[0];
      io.src_channels_last = false;
    }
    binary_.clear();
    for (size_t k = 0; k < add_operands_.size(); ++k) {
      const size_t i = add_operands_[k];
      const bool last = ctx.input_channels_last(i);
      if (last == io.dst_channels_last) {
        binary_.push_back(in[i]);
        continue;
      }
      converted_[k + 1] = last ? channels_last_to_plain(*in[i]) : plain_to_channels_last(*in[i]);
      binary_.push_back(&converted_[k + 1]);
    }
    // The first post-op's residual operand may take the output (ConvIo::add_in_place) when
    // nothing reads it after this node: a converted copy (not the input itself, which a
    // conversion of a 1x1 image only reshapes), or an input the session lets go.
    io.add_in_place = !add_operands_.empty() &&
                      (converted_[1].defined() ? converted_[1].sole_owner() : ctx.input_writable(add_operands_[0]));
    out[0] = kernel_.run(*x, w, bias, binary_, 0, io);
    if (io.dst_channels_last) ctx.out_channels_last[0] = 1;
    for (auto& t : converted_) t = Tensor();
  }

  KernelInfo kernel_info() override { return kernel_.last_kernel_info(); }

 private:
  // W'[m] = W[m] * s[m], b'[m] = (b[m] - mean[m]) * s[m] + beta[m], s = gamma / sqrt(var + eps)
  // (runtime/bn_affine.h), in float: fused results stay what they have always been.
  void fold_batch_norm(const NodeDesc& bn, const Tensor& w, const Tensor* b) {
    const float eps = bn.attrs.get_float("epsilon", 1e-5f);
    const float* gamma = bn.constant(1)->data<float>();
    const float* beta = bn.constant(2)->data<float>();
    const float* mean = bn.constant(3)->data<float>();
    const float* var = bn.constant(4)->data<float>();
    const int64_t m = w.dim(0);
    DPL_CHECK(bn.constant(1)->numel() == m, "BatchNormalization '{}' has {} channels, the conv {}", bn.name,
              bn.constant(1)->numel(), m);
    const int64_t per = w.numel() / m;
    folded_w_ = w.clone();
    folded_b_ = Tensor(DType::F32, {m});
    float* fw = folded_w_.data<float>();
    float* fb = folded_b_.data<float>();
    for (int64_t c = 0; c < m; ++c) {
      const float s = bn_scale(gamma[c], var[c], eps);
      for (int64_t k = 0; k < per; ++k) fw[c * per + k] *= s;
      const float b0 = b ? b->data<float>()[c] : 0.f;
      fb[c] = (b0 - mean[c]) * s + beta[c];
    }
  }

  ConvKernel kernel_;
  ConvGrad grad_;
  bool absorbed_none_ = true;
  size_t own_inputs_ = 0;
  Tensor folded_w_, folded_b_;
  std::vector<const Tensor*> binary_;
  std::vector<Tensor> converted_;  // X, then residual operands, in another layout
  std::vector<size_t> add_operands_;  // input index of each absorbed Add's other operand
};

}  // namespace

DPL_REGISTER_OP("Conv", ConvOp);

}  // namespace dpl
