// A block (transform/recon_block.h) as the model BRECQ and QDrop train (docs/training.md,
// "BRECQ and QDrop"): the block's nodes of the FP32 model with the quantization the QDQ model
// puts on them, in a form whose parameters can be fed and differentiated:
//   - each trained layer's weight becomes a graph input (the soft-rounded weight is fed every
//     iteration; kernels pack constant weights once); a quantized weight not trained (its
//     layer skipped) becomes its round-to-nearest value;
//   - each activation the QDQ model quantizes for a node of the block becomes
//     dpl.FakeQuantize(t, <t>_fq_scale, <t>_fq_zp) with the grid's code bounds (qmin / qmax),
//     read by exactly the nodes that read <t>_dq in the QDQ model. The scale is a graph input
//     (learned, LSQ) for per-tensor activations computed inside the block, the block output
//     included, and a constant for the block input (its scale belongs to the block before);
//   - with drop (QDrop): each fake quantization is followed by dpl.DropMix(fq, float, seed)
//     with a seed input per quantized tensor, and the block input is mixed with the FP32
//     model's input, fed as <input>_fp, with the same mask for all its readers;
//   - the output is the block output, fake-quantized when the QDQ model quantizes it.
#pragma once
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "quant/qdq_builder.h"
#include "train/soft_rounding.h"
#include "transform/recon_block.h"

namespace dpl::transform {

struct BlockWeight {
  std::string tensor;  // the initializer of g, fed under the same name
  std::string layer;   // its node
  train::WeightGrid grid;
};

struct BlockScale {
  std::string tensor;  // the activation of g
  std::string input;   // the fed scale (learned) or the initializer (fixed)
  float scale = 1;     // initial value
  int32_t qmin = 0, qmax = 0;  // bounds of code - zero point
  bool learned = false;
};

struct BlockModel {
  OnnxGraph graph;
  std::string input;     // the block input (fed: the QDQ model's value of it)
  std::string input_fp;  // with drop: the FP32 model's value of it; else empty
  std::string output;    // compared with the target
  std::vector<BlockWeight> weights;
  std::vector<BlockScale> scales;
  std::vector<std::string> seeds;  // int64 scalar inputs, one per DropMix draw
};

struct BlockModelOptions {
  std::vector<std::string> trained;  // weight initializers to feed (the layers trained)
  bool drop = false;
  double drop_prob = 0.5;   // probability that an element takes its quantized value
  bool learn_scales = true;  // false: every activation scale is a constant
};

// Throws (naming the reason) when the block cannot be cut out with one activation input.
BlockModel block_model(const OnnxGraph& g, const ReconBlock& block, const QdqModel& q, const BlockModelOptions& o);

// The weight grid of a weight pair of the QDQ model.
train::WeightGrid weight_grid(const QdqPair& p);

}  // namespace dpl::transform
