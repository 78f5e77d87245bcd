// Sparse quantization (`--sparse`, docs/training.md "Sparse"), the original's method: layer by
// layer, the weights themselves are trained (SGD lr 1e-3, momentum 0.9, weight decay 1e-4,
// cosine schedule) so that the layer's output through a pruning mask and a straight-through
// quantizer, computed from its input in the quantized model, matches the FP32 output after
// its activation. The mask is recomputed from the weights at every step (unstructured: the
// smallest |w| of the layer; nv24: 2 of every 4 input channels). Written weights are exactly 0
// where pruned and exactly on the quantization grid elsewhere.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "train/sparse_mask.h"
#include "transform/incremental.h"

namespace dpl::transform {

train::SparsePattern parse_sparse_pattern(const std::string& name);  // "unstruction" | "nv24"

// The input-channel axis of a layer's weight: Conv 1, ConvTranspose 0, Gemm 0 (1 with
// transB), MatMul the second to last.
int input_channel_axis(const onnx::NodeProto& node, int weight_rank);

struct SparseOptions {
  int64_t iters = 5000;  // per layer, random batches of `batch`
  int64_t batch = 32;
  bool original_recipe = false;  // epochs x ceil(N / batch) iterations on sequential batches
  int64_t epochs = 5000;
  double rate = 0.5;  // unstructured: share pruned
  train::SparsePattern pattern = train::SparsePattern::Unstructured;
  double lr = 1e-3, momentum = 0.9, weight_decay = 1e-4;
  int64_t cache_bytes = int64_t{4096} << 20;
  std::string cache_dir;
  uint64_t seed = 0;
  std::set<std::string> skip;
};

struct SparseLayerResult {
  std::string name, kind, weight;
  bool trained = false, pruned = false;
  std::string note;  // why not trained, or why left dense
  double mse_start = 0, mse_end = 0;  // pruned and quantized: before and after training
  int64_t zeros = 0, total = 0;
  double seconds = 0;
};

struct SparseResult {
  std::vector<SparseLayerResult> layers;
  int trained() const;
  double sparsity() const;  // zeros over all weights of the layers seen
};

// Prunes, trains and quantizes the weights of `g` in place. Ranges are not changed: the
// written weights lie on the grids of `weight`.
SparseResult sparse_quant(OnnxGraph& g, const OnnxGraph& reference, SampleSource& data, const Platform& platform,
                          const ActRanges& act, const WeightRanges& weight, const QdqOptions& qdq,
                          const SparseOptions& opts, const TransformRunOptions& run);

}  // namespace dpl::transform
