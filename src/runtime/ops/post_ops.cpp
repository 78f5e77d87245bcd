// Scalar post-ops for the direct conv paths (see post_ops.h).
#include "runtime/ops/post_ops.h"

#include <algorithm>
#include <cmath>

#include "runtime/ops/conv_geometry.h"

namespace dpl {

namespace {

float eltwise(const PostOp& op, float v) {
  switch (op.kind) {
    case PostOp::Kind::Relu: return v > 0.f ? v : 0.f;
    case PostOp::Kind::LeakyRelu: return v >= 0.f ? v : op.alpha * v;
    case PostOp::Kind::Clip: return std::min(std::max(v, op.alpha), op.beta);
    case PostOp::Kind::Sigmoid: return 1.f / (1.f + std::exp(-v));
    case PostOp::Kind::Swish: return v / (1.f + std::exp(-op.alpha * v));
    case PostOp::Kind::HardSigmoid: return std::min(std::max(op.alpha * v + op.beta, 0.f), 1.f);
    case PostOp::Kind::HardSwish: return v * std::min(std::max(v / 6.f + 0.5f, 0.f), 1.f);
    case PostOp::Kind::Tanh: return std::tanh(v);
    default: return v;
  }
}

}  // namespace

const char* post_op_name(PostOp::Kind k) {
  switch (k) {
    case PostOp::Kind::Relu: return "eltwise_relu";
    case PostOp::Kind::LeakyRelu: return "eltwise_relu(leaky)";
    case PostOp::Kind::Clip: return "eltwise_clip";
    case PostOp::Kind::Sigmoid: return "eltwise_logistic";
    case PostOp::Kind::Swish: return "eltwise_swish";
    case PostOp::Kind::HardSigmoid: return "eltwise_linear+eltwise_clip";
    case PostOp::Kind::HardSwish: return "eltwise_hardswish";
    case PostOp::Kind::Tanh: return "eltwise_tanh";
    case PostOp::Kind::BinaryAdd: return "binary_add";
    case PostOp::Kind::FakeQuant: return "fake_quant(binary_div+eltwise_round+eltwise_clip_v2+eltwise_linear)";
  }
  return "?";
}

DirectOperands collect_operands(const ConvParams& p, const ConvGeometry& g, const Tensor* bias,
                                const std::vector<const Tensor*>& binary_args) {
  DirectOperands r;
  if (bias) {
    DPL_CHECK(bias->numel() == g.M && bias->dtype() == DType::F32, "{}: bias B has shape {}, expected [{}]",
              p.op_name, shape_str(bias->shape()), g.M);
    r.bias = bias->data<float>();
  }
  size_t bi = 0;
  for (const PostOp& op : p.post_ops) {
    if (op.kind != PostOp::Kind::BinaryAdd) continue;
    DPL_CHECK(bi < binary_args.size() && binary_args[bi] && binary_args[bi]->shape() == g.y_shape,
              "internal: {} post-op operand missing or of the wrong shape", p.op_name);
    r.binary.push_back(binary_args[bi]->data<float>());
    ++bi;
  }
  return r;
}

void post_ops_row(const std::vector<PostOp>& post, float* acc, int64_t n, int64_t off,
                  const std::vector<const float*>& bin) {
  size_t bi = 0;
  for (const PostOp& op : post) {
    if (op.kind == PostOp::Kind::BinaryAdd) {
      const float* o = bin[bi++] + off;
      for (int64_t i = 0; i < n; ++i) acc[i] += o[i];
    } else if (op.kind == PostOp::Kind::Relu) {
      for (int64_t i = 0; i < n; ++i) acc[i] = acc[i] > 0.f ? acc[i] : 0.f;
    } else if (op.kind == PostOp::Kind::FakeQuant) {
      FakeQuantSpan(op.fq)(acc, n);
    } else if (op.kind == PostOp::Kind::Clip) {
      for (int64_t i = 0; i < n; ++i) acc[i] = std::min(std::max(acc[i], op.alpha), op.beta);
    } else {
      for (int64_t i = 0; i < n; ++i) acc[i] = eltwise(op, acc[i]);
    }
  }
}

}  // namespace dpl
