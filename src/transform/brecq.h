// BRECQ (`--brecq`, Li et al. 2021) and QDrop (`--brecq --drop`, Wei et al. 2022) on our own
// training engine (docs/training.md, "BRECQ and QDrop"): for every block of the model
// (transform/recon_block.h) in graph order, the rounding of all its weighted layers is learned
// jointly, so that the block's output, computed from its input in the quantized model
// (earlier blocks already rounded, activations fake-quantized as the QDQ model does inside
// the block), matches the FP32 model's block output. Both learn the activation steps inside
// the block with LSQ (MQBench's recipe: its BRECQ and QDrop differ only by the drop); QDrop
// also mixes every fake-quantized activation, and the block input, element-wise with its
// float value at random (probability drop_prob of the quantized one), afresh every iteration.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "train/schedule.h"
#include "transform/incremental.h"
#include "transform/recon_block.h"

namespace dpl::transform {

struct BrecqOptions {
  // Reference recipe: `iters` per block on random batches of `batch`, linear beta.
  // original_recipe: epochs x layers x ceil(N / batch) iterations on sequential batches, cosine beta.
  int64_t iters = 5000;
  int64_t batch = 32;
  bool original_recipe = false;
  int64_t epochs = 5000;
  double lambda = 0.01;
  double lr = 1e-3;        // Adam on V
  double scale_lr = 4e-5;  // Adam on the activation steps, cosine to 0
  bool learn_scales = true;
  train::BetaSchedule beta;
  bool drop = false;
  double drop_prob = 0.5;  // probability that an element takes its quantized value
  BlockRule rule = BlockRule::Network;
  int64_t cache_bytes = int64_t{4096} << 20;
  std::string cache_dir;
  uint64_t seed = 0;
  std::set<std::string> skip;  // layers left at round-to-nearest
};

struct BrecqBlockResult {
  std::string description;     // describe(): kind, layers, boundary tensors
  bool trained = false;
  std::string note;            // why not trained
  double mse_nearest = 0, mse_learned = 0;
  int64_t iters = 0, changed = 0, weights = 0;
  int scales = 0;              // activation steps learned
  double seconds = 0;
};

struct BrecqResult {
  std::vector<BrecqBlockResult> blocks;
  int trained() const;
};

// Changes the weights of `g` in place (each exactly on its grid) and, for every learned
// activation step s of a tensor with code bounds qmin..qmax (minus the zero point), sets its
// range in `act` to [qmin s, qmax s], which gives back s and the zero point.
BrecqResult brecq(OnnxGraph& g, const OnnxGraph& reference, SampleSource& data, const Platform& platform, ActRanges& act,
                  const WeightRanges& weight, const QdqOptions& qdq, const BrecqOptions& opts,
                  const TransformRunOptions& run);

}  // namespace dpl::transform
