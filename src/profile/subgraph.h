// Small models cut out of a bigger one, for profiling: the fake-quantized weights of a QDQ
// model folded into float initializers (computed once, by the runtime's own
// QuantizeLinear/DequantizeLinear kernels, so the numbers are the QDQ model's), and single
// quantized nodes with their Q/DQ pairs (single-layer sensitivity).
#pragma once
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "quant/qdq_builder.h"

namespace dpl {

// The region of g made of nodes `nodes` with outputs `outputs`, extracted (graph/region.h:
// nodes in graph order, the initializers they read, inputs typed without a shape so any
// batch is accepted); its FakeQuantize nodes lose their inplace attribute.
OnnxGraph extract_nodes(const OnnxGraph& g, const std::vector<int>& nodes, const std::vector<std::string>& outputs);

// A copy of the QDQ model for profiling sessions, same outputs to the bit, faster to run:
//   - every weight pair W -> QuantizeLinear -> DequantizeLinear becomes the initializer W_dq
//     holding DequantizeLinear(QuantizeLinear(W)) (no per-run weight quantization, and
//     kernels see constant weights);
//   - every per-tensor activation pair becomes one "dpl.FakeQuantize" node (t, t_scale,
//     t_zero_point) -> t_dq (profile/fake_quant_op.cpp), one pass instead of two, written
//     over t's buffer (attribute inplace=1) when nothing else reads t; below 8 bits it reads
//     t_clip, the output of the pair's Clip, which stays (quant/qdq_builder.h).
// Node and tensor names of the QDQ model stay (the pair's DequantizeLinear node name is
// kept by its FakeQuantize node; t_q disappears).
// fold_weights false: the weight pairs stay (computed on every run, no second copy of the
// weights; for streamed profiling of mapped models).
OnnxGraph profiling_graph(const QdqModel& qdq, bool fold_weights = true);

}  // namespace dpl
