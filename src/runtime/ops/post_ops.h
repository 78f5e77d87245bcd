// Operations fused after a convolution (activations, a residual add, the fake quantization of
// its output) and the scalar code
// that applies them on the two conv paths that bypass oneDNN (direct depthwise, GEMM +
// col2im deconvolution); the oneDNN path turns the same list into oneDNN post-ops.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "runtime/ops/fake_quant.h"

namespace dpl {

struct ConvParams;
struct ConvGeometry;

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
    BinaryAdd,    // x + operand  (operand: a tensor of the output's shape)
    FakeQuant,    // a per-tensor QuantizeLinear -> DequantizeLinear pair (fq), same bits
  };
  Kind kind = Kind::Relu;
  float alpha = 0.f, beta = 0.f;
  FakeQuantConstants fq{};  // FakeQuant only
};

// The post-op's name as oneDNN's verbose output spells it ("eltwise_relu", "binary_add").
const char* post_op_name(PostOp::Kind k);

// The float operands a direct (non-oneDNN) conv path reads besides x and w.
struct DirectOperands {
  const float* bias = nullptr;       // [M], or null without bias
  std::vector<const float*> binary;  // one per BinaryAdd post-op, plain, output-shaped
};

// Checks the bias ([M] float) and the BinaryAdd operands (one per BinaryAdd in
// p.post_ops, in order, each of the output's shape) and returns their data.
DirectOperands collect_operands(const ConvParams& p, const ConvGeometry& g, const Tensor* bias,
                                const std::vector<const Tensor*>& binary_args);

// Applies the post-ops to one output row `acc` (n values at element offset `off` of the
// output); `bin` holds the BinaryAdd operands.
void post_ops_row(const std::vector<PostOp>& post, float* acc, int64_t n, int64_t off,
                  const std::vector<const float*>& bin);

}  // namespace dpl
