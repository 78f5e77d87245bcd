// One layer's AdaRound training state (docs/training.md, "AdaRound"): the layer alone as a
// model whose weight is an input (kernels pack constant weights once; the soft weight changes
// every iteration), its soft rounding and Adam on V. transform/adaround.h drives it over the
// cached samples; bench/adaround_step.cpp times its iterations.
#pragma once
#include <memory>
#include <utility>

#include "graph/onnx_graph.h"
#include "runtime/session.h"
#include "train/optimizer.h"
#include "train/soft_rounding.h"
#include "transform/recon_layer.h"

namespace dpl::transform {

class DataParallel;

class AdaRoundLayer {
 public:
  // Throws naming the reason when the layer cannot be cut out on its own (it reads a second
  // activation).
  AdaRoundLayer(const OnnxGraph& g, ReconLayer layer, train::WeightGrid grid, double lr, int threads);

  // One iteration on a batch (x: the layer's input, target: the tensor it reconstructs, both
  // stacked along axis 0): soft weight, forward, loss, backward, dL/dV with the regulariser
  // at `beta` weighted by `lambda`, one Adam step. Returns (reconstruction loss, regulariser).
  // Throws, naming node and op, when the layer holds an operator without a backward pass.
  // With `dp`, the gradient is the global batch's over the ranks (and so is the loss).
  std::pair<double, double> iterate(const Tensor& x, const Tensor& target, double beta, double lambda,
                                    const DataParallel* dp = nullptr);
  // The reconstruction loss with weight `w` (no gradient).
  double loss(const Tensor& x, const Tensor& target, const Tensor& w);

  const ReconLayer& layer() const { return layer_; }
  train::SoftRounding& rounding() { return rounding_; }

 private:
  ReconLayer layer_;
  train::SoftRounding rounding_;
  train::Adam adam_;
  std::unique_ptr<Session> session_;
  std::vector<float> grad_v_;
};

// The layer of `layer` alone, its weight a graph input.
OnnxGraph layer_model(const OnnxGraph& g, const ReconLayer& layer);

}  // namespace dpl::transform
