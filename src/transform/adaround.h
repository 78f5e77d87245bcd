// AdaRound (`--adaround`, Nagel et al. 2020; docs/training.md "AdaRound", docs/spec.md 8):
// for every weighted layer in graph order (transform/recon_layer.h), learn whether each
// weight rounds up or down on its quantization grid so that the layer's output, computed
// from its input in the quantized model (earlier layers already rounded), matches the FP32
// model's output after its activation. Trained on our own kernels (runtime's backward
// passes, train/'s Adam and schedules), so what is trained is what is simulated.
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

namespace dpl::transform {

struct AdaRoundOptions {
  // The reference recipe (QDrop, BRECQ, MQBench): `iters` iterations per layer on random
  // batches of `batch`, linear beta decay. original_recipe (the user gave --ada_epoch or
  // --ada_bs): epochs x ceil(N / batch) iterations on sequential batches, cosine beta.
  int64_t iters = 10000;
  int64_t batch = 32;
  bool original_recipe = false;
  int64_t epochs = 5000;
  double lambda = 0.01;  // weight of the rounding regulariser
  double lr = 1e-3;      // Adam on V
  train::BetaSchedule beta;
  int64_t cache_bytes = int64_t{4096} << 20;  // --cache_mb
  std::string cache_dir;                      // where caches spill (the output folder)
  uint64_t seed = 0;
  std::set<std::string> skip;  // nodes left at round-to-nearest (--skip_layers, --we's first layers)
};

struct AdaRoundLayerResult {
  std::string name, kind;
  bool trained = false;
  std::string note;                    // why not trained
  double mse_nearest = 0, mse_learned = 0;  // reconstruction loss over all samples
  int64_t up = 0, down = 0, changed = 0;    // weights rounded up / down; different from nearest
  int64_t iters = 0;
  double seconds = 0;
};

struct AdaRoundResult {
  std::vector<AdaRoundLayerResult> layers;
  int trained() const;
};

// Changes the weights of `g` in place (hard-rounded, each exactly on its grid). `reference`
// is the FP32 model the targets come from (before bias correction / equalization: the
// original's graph_ori). Ranges are not changed: the rounded weights lie on the grids of
// `weight`.
AdaRoundResult adaround(OnnxGraph& g, const OnnxGraph& reference, SampleSource& data, const Platform& platform,
                        const ActRanges& act, const WeightRanges& weight, const QdqOptions& qdq,
                        const AdaRoundOptions& opts, const TransformRunOptions& run);

}  // namespace dpl::transform
