// Empirical bias correction (`--bc`, docs/spec.md 8; Nagel et al. 2019, section 4.2 "empirical"):
// for every Conv and Gemm in graph order, incrementally (transform/incremental.h), the
// per-output-channel mean of (FP output - quantized output) over the calibration samples
// and every axis but the channel axis is added to the node's bias. "FP output" is the
// node's output in the unchanged FP32 model; "quantized output" its output in the QDQ model
// built with the calibration ranges from the model with the earlier nodes already
// corrected. Since mean(FP - Q) = mean(FP) - mean(Q), the FP means of every node come from
// one streamed pass, and each pass over the QDQ model holds only its nodes' outputs of the
// current batch. Afterwards every corrected node's mean output error on the calibration
// data is zero. A node without a bias gets one (`<node>_bias`); a Gemm's bias is rewritten
// per output column with beta = 1. Skipped (logged): nodes whose weight is not a float
// initializer, whose bias is not a float initializer, or a Gemm whose bias is not per
// output column.
#pragma once
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "transform/incremental.h"

namespace dpl::transform {

struct BiasCorrectionResult {
  struct Node {
    std::string name;
    double mean_abs = 0, max_abs = 0;  // of the correction over channels
  };
  std::vector<Node> corrected;  // in graph order
  int passes = 0;               // passes over the data through the QDQ model (+1 FP pass)
};

BiasCorrectionResult bias_correction(OnnxGraph& g, SampleSource& data, const Platform& platform, const ActRanges& act,
                                     const WeightRanges& weight, const QdqOptions& qdq, const TransformRunOptions& run);

}  // namespace dpl::transform
