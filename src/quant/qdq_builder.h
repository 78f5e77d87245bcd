// Builds the fake-quantized (QDQ) model by the rules of SPEC 7 (the original's quantize.py).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"

namespace dpl {

struct QdqOptions {
  std::set<std::string> skip_layers;  // node names never quantized
};

struct QdqModel {
  OnnxGraph graph;                       // opset 13, passes onnx::checker
  std::vector<std::string> quant_nodes;  // names of the nodes whose inputs were quantized
};

// Throws naming the tensor when a range it needs is missing.
QdqModel build_qdq(const OnnxGraph& fp, const Platform& platform, const ActRanges& act, const WeightRanges& weight,
                   const QdqOptions& opts);

}  // namespace dpl
