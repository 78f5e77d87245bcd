// ConvTranspose (opset 1-17): 1-D to 3-D, groups, dilations, strides, pads, auto_pad,
// output_padding, output_shape (pads derived as the ONNX spec says), optional bias; oneDNN
// deconvolution through ConvKernel.
#include "runtime/dnnl_util.h"
#include "runtime/op_registry.h"
#include "runtime/ops/conv_grad.h"
#include "runtime/ops/conv_kernel.h"

namespace dpl {
namespace {

class ConvTransposeOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    ConvParams p = ConvParams::from_node(node, true);
    p.has_bias = node.has_input(2);
    DPL_CHECK(node.has_input(0) && node.has_input(1), "{}: needs inputs X and W", p.op_name);
    const Tensor* w = node.constant(1);
    const Tensor* b = p.has_bias ? node.constant(2) : nullptr;
    if (w) DPL_CHECK(w->dtype() == DType::F32, "{}: weights must be float32, got {}", p.op_name, dtype_name(w->dtype()));
    kernel_.init(std::move(p), w, b);
  }

  bool has_backward() const override { return true; }  // conv_grad.h
  void backward(OpContext&, const GradArgs& args) override { conv_backward(grad_, kernel_.params(), args); }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const ConvParams& p = kernel_.params();
    DPL_CHECK(in[0]->dtype() == DType::F32, "{}: only float32 input is supported, got {}", p.op_name,
              dtype_name(in[0]->dtype()));
    out[0] = kernel_.run(*in[0], *in[1], in.size() > 2 ? in[2] : nullptr);
  }

  KernelInfo kernel_info() override { return kernel_.last_kernel_info(); }

 private:
  ConvKernel kernel_;
  ConvGrad grad_;
};

}  // namespace

DPL_REGISTER_OP("ConvTranspose", ConvTransposeOp);

}  // namespace dpl
