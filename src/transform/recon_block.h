// The units BRECQ and QDrop reconstruct (docs/training.md, "Blocks"): regions of the model with
// one activation input and one output, each holding one or more weighted layers that are
// trained jointly against the FP32 output of the region.
//
// BlockRule::Network (default, MQBench's extract_block on the ONNX graph): the nodes in graph
// order are divided into stretches, each the shortest run of consecutive nodes that reads one
// activation from before it, which nothing after it reads, and leaves one tensor read after it
// (tensors that merely pass by, such as a detector's long skip connections, do not count). A
// stretch that joins branches (a residual Add, a Concat) is one block with all its layers
// (ResNet's BasicBlock and Bottleneck with their downsample branch, MobileNetV2's inverted
// residual, YOLOX's CSP block), together with the layer-free stretches right after it (the
// Relu after the Add, pooling). Elsewhere, chains of up to three weighted layers are stacked,
// each with the layer-free stretches after it; a join starts a new block. The first and the
// last weighted layers of the model (stem, classifier) are blocks of their own. A joining
// stretch with more than kMaxBlockLayers layers (a CSP block with three bottlenecks) is
// divided once more, its own input allowed to stay alive (each branch from it, each
// bottleneck, becomes a stretch); a join still too large is split into its layers.
// BlockRule::Original (--recon_blocks original, the original tool's chain rule): from each
// Conv, Gemm or ConvTranspose not yet taken, follow the single reader through Relu and further
// Conv/Gemm/ConvTranspose nodes, taking up to three layers; the output is the last layer's,
// after its Relu when a Relu alone reads it. The residual Add is never inside.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "graph/onnx_graph.h"

namespace dpl::transform {

enum class BlockRule { Network, Original };
BlockRule parse_block_rule(const std::string& name);  // "network" | "original"

inline constexpr int kMaxBlockLayers = 8;

struct ReconBlock {
  std::vector<int> nodes;   // the block's nodes in g, graph order (constant helpers included)
  std::vector<int> layers;  // its weighted nodes (Conv, ConvTranspose, Gemm, constant-weight MatMul), graph order
  std::string input;        // the one activation tensor it reads
  std::string output;       // the tensor reconstructed
  std::string kind;         // "residual", "chain", "layer", "layer of a large join", "original chain"
  int channel_axis = 1;     // of the output, for the loss (-1 when a MatMul is inside)
};

// Whether node n of g is a weighted layer: Conv, ConvTranspose, Gemm or MatMul whose input 1
// is a float initializer and input 0 an activation.
bool is_weighted_layer(const OnnxGraph& g, const onnx::NodeProto& n);

// The blocks of g in graph order. With BlockRule::Original, layers named in `skip` start no
// block (they can still be taken into one, as in the original).
std::vector<ReconBlock> find_recon_blocks(const OnnxGraph& g, BlockRule rule, const std::set<std::string>& skip = {});

// The single weighted layer at `node` with the activation that alone reads it (the AdaRound
// unit, transform/recon_layer.h) as a block: the fallback when a block cannot be trained whole.
ReconBlock layer_block(const OnnxGraph& g, int node);

// One line for the log: "residual block: conv1, conv2, downsample (in 'x', out 'y')".
std::string describe(const OnnxGraph& g, const ReconBlock& b);

}  // namespace dpl::transform
