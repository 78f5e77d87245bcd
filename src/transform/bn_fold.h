// BatchNormalization folding (**beyond**; every back end does it before quantizing): a BN
// that directly follows a Conv, ConvTranspose or Gemm whose output it alone reads is folded
// into that node's weight and bias, so that weight ranges and the QDQ model are those of
// the deployed layer. With s = scale / sqrt(var + epsilon) per output channel c:
//   W'[c] = W[c] * s[c]            (ConvTranspose: W[:, c] within each group;
//                                   Gemm: column c of B, row c when transB = 1)
//   b'[c] = (b[c] - mean[c]) * s[c] + B[c]   (Gemm: b = beta * C, and beta becomes 1)
// The producer then writes the BN's output tensor and the BN node is removed; the
// producer's old output tensor disappears. Weights or biases shared with other nodes are
// copied first. Not folded (logged): BNs in training mode or with extra outputs, whose
// parameters or producer weights are not float initializers, whose channel count does
// not match, or a Gemm whose bias is not per output column.
#pragma once
#include <string>
#include <vector>

#include "graph/onnx_graph.h"

namespace dpl::transform {

struct BnFoldResult {
  std::vector<std::string> folded;  // names of the BN nodes folded
  std::vector<std::string> kept;    // BNs left alone, each "name: reason" (logged)
};

BnFoldResult fold_batchnorm(OnnxGraph& g);

}  // namespace dpl::transform
