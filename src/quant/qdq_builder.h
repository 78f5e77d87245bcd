// Builds the fake-quantized (QDQ) model by the rules of docs/spec.md 7 (the original tool's placement).
//
// For each node whose op type the platform quantizes (and whose name is not in skip_layers),
// in graph order, for each input:
//   - the first initializer input of a weighted op (Conv, Gemm, ConvTranspose, PRelu,
//     BatchNormalization) gets a weight pair, per channel along weight_channel_axis()
//     (graph/weight_axes.h) when the platform's weights are per channel; other initializers
//     stay float. **beyond**: on platforms that quantize MatMul, an initializer second
//     input of a MatMul gets a weight pair too, per output channel (last axis);
//   - any other input (graph input or activation) gets an activation pair, created once
//     per tensor and shared by every consumer that quantizes it;
//   - Relu, PRelu, Mul: nothing when input 0 has no producer node (a graph input or an
//     initializer); nothing for a one-input node (Relu) fed by Conv, Gemm, Eltwise or Add;
//   - platforms that fuse an Add into a Conv (Platform::fuses_add_into_conv: trt): the first
//     input of an Add produced by a Conv stays float;
//   - inputs that are not float32 (shape tensors, indices) and omitted inputs are left alone.
// Platforms that quantize the network output append a pair after each float graph output
// and make the dequantized tensor the graph output (`outputs` maps the names).
// Naming: nodes <t>_QuantizeLinear / <t>_DequantizeLinear, tensors <t>_q / <t>_dq,
// initializers <t>_scale / <t>_zero_point (scalars per tensor, 1-D with `axis` per channel;
// zero point INT8 when symmetric, UINT8 when asymmetric). Pairs are placed right before
// their first quantized consumer (output pairs right after the producer); the result is
// topologically sorted and passes onnx::checker.
//
// Each tensor's grid comes from opts.precision (quant/precision.h; the platform table when
// null). Below 8 bits the codes are int8/uint8 values inside the narrow range (opset 13 has no
// int4 type), and the model itself keeps them there, so that any ONNX runtime computes what
// the simulation computes (docs/quant-config.md "Sub-8-bit models"):
//   - activations: a Clip to the dequantized ends of the grid, (qmin - zp) * s and
//     (qmax - zp) * s, before the QuantizeLinear: node <t>_Clip, output <t>_clip,
//     initializers <t>_clip_min / <t>_clip_max;
//   - weights (any bit width): the values whose code would fall outside qmin..qmax are set
//     to the grid's end in the QDQ model's copy of the initializer (a weight some unquantized
//     node also reads gets its own copy <t>_clipped), so QuantizeLinear lands inside.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/precision.h"
#include "quant/qdq_sites.h"
#include "quant/quant_param.h"

namespace dpl {

struct QdqPair {
  std::string tensor;  // the quantized tensor (original name)
  bool weight = false;
  int axis = -1;       // per-channel axis, -1 per tensor
  QuantParams params;
};

struct QdqModel {
  OnnxGraph graph;                       // opset >= 13 (13 for every prepared model), passes onnx::checker
  std::vector<std::string> quant_nodes;  // the selected nodes (op type in quant_nodes, not skipped), in graph
                                         // order, as the original's quant_node_list: also those whose inputs
                                         // all stayed float by the rules above
  std::vector<QdqPair> pairs;            // in creation order
  std::map<std::string, std::string> outputs;  // every graph output -> its name in `graph`
  TensorPrecisions precision;            // each quantized tensor's grid (opts.precision applied)
  // With QdqOptions::transformer: QdqSites::matched and QdqSites::kept_float.
  std::map<std::string, std::string> matched;
  std::map<std::string, std::vector<std::string>> kept_float;
  std::vector<std::string> warnings;     // also logged (spdlog::warn) unless quiet: skip_layers names matching
                                         // no node...
  const QdqPair* pair(const std::string& tensor) const;
};

// Whether the pair saturates its input with a Clip before QuantizeLinear (<t>_Clip):
// activations below 8 bits.
inline bool clips_to_grid(const QdqPair& p) { return !p.weight && p.params.bits < 8; }

// Throws naming the tensor when a range it needs is missing or unusable (a per-channel
// weight range whose channel count differs from the weight's output channels).
QdqModel build_qdq(const OnnxGraph& fp, const Platform& platform, const ActRanges& act, const WeightRanges& weight,
                   const QdqOptions& opts);

}  // namespace dpl
