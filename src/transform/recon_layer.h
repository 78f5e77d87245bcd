// The unit AdaRound trains: one weighted layer with the activation that follows it
// (docs/training.md, "AdaRound"). Its target is the FP32 output after that activation, as
// the references do (BRECQ's include_act_func, AIMET's activation map); the original only
// looks through Relu.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "quant/qdq_builder.h"

namespace dpl::transform {

struct ReconLayer {
  int node = -1;            // the weighted node (index in the graph searched)
  std::string name;         // its node name
  std::string weight;       // its weight initializer (input 1)
  std::string input;        // its activation input (input 0)
  std::vector<int> nodes;   // the node and its activation nodes, in graph order
  std::string target;       // the tensor reconstructed: the activation's output, or the node's
  std::string kind;         // "Conv", "Conv+Relu", "Conv+SiLU"... for the log
  int channel_axis = 1;     // of the target, for the reconstruction loss
};

// Conv, ConvTranspose, Gemm and MatMul with an initializer second input, in graph order,
// whose weight is a float initializer; nodes named in `skip` are left out. The activation
// is taken when the layer's output feeds only it (and is no graph output): Relu, Clip,
// LeakyRelu, PRelu, Elu, Sigmoid, HardSigmoid, HardSwish, Tanh, Softplus, or SiLU written
// as x * Sigmoid(x).
std::vector<ReconLayer> find_recon_layers(const OnnxGraph& g, const std::set<std::string>& skip);

// The layers of find_recon_layers whose weight the QDQ model `q` of g quantizes (they have a
// grid to round or prune on) and that no other node reads.
std::vector<ReconLayer> quantized_recon_layers(const OnnxGraph& g, const QdqModel& q, const std::set<std::string>& skip);

}  // namespace dpl::transform
