// Facts about ONNX operators' weights that calibration, the QDQ builder and the deploy files
// must agree on: which ops carry weights, and along which axis a weight's output channels lie
// (the per-channel quantization axis, and the axis weight ranges are taken over).
#pragma once
#include <onnx/onnx_pb.h>

#include <string>

namespace dpl {

// Conv, Gemm, ConvTranspose, PRelu, BatchNormalization (the original's LAYER_HAS_WEIGHT).
bool op_has_weight(const std::string& op_type);

// Output-channel axis of input `input` (of rank `rank`) of `node`, or -1 when it has none
// (rank 0, or the 1-D second input of a MatMul):
//   ConvTranspose weight (input 1): 1 (its layout is [C_in, C_out/group, k...]);
//   Gemm: B is 1 when transB = 0, 0 when transB = 1 (**beyond**: the original takes 0);
//         A is 0 when transA = 0, 1 when transA = 1;
//   MatMul B (input 1, **beyond**): the last axis;
//   everything else (Conv weight, biases, PRelu slope, BN parameters): 0.
int weight_channel_axis(const onnx::NodeProto& node, int input, int rank);

}  // namespace dpl
