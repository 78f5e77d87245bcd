// Pruning masks of sparse quantization (`--sparse`, docs/training.md "Sparse"): which weights
// of a layer are set to 0. Recomputed from the current weights at every training step (the
// mask follows the weights), and once more before the weights are written.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dpl::train {

enum class SparsePattern { Unstructured, NV24 };

// Unstructured: k = floor(rate * numel) weights of smallest |w| are pruned; ties with the k-th
// smallest are pruned too (the original's rule |w| > threshold), so at least k are 0.
std::vector<uint8_t> unstructured_mask(const Tensor& w, double rate);

// NVIDIA's 2:4: along `in_axis` (the input channels), in every group of 4 consecutive
// channels at the same other coordinates, the 2 of smallest |w| are pruned (the first ones on
// ties). The channel count must be a multiple of 4 (nv24_applies).
std::vector<uint8_t> nv24_mask(const Tensor& w, int in_axis);
bool nv24_applies(const Tensor& w, int in_axis);

}  // namespace dpl::train
