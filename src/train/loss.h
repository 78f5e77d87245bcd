// Losses of layer and block reconstruction (docs/training.md, "train/").
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace dpl::train {

// The reconstruction loss of AdaRound, BRECQ and QDrop (the references' lp_loss with p = 2):
// the squared error summed over the channel axis and averaged over every other axis,
// L = sum((y - t)^2) / (numel / channels). Returns L and sets `grad` (float32, y's shape) to
// dL/dy = 2 (y - t) / (numel / channels). y and t are float32 of the same shape.
double reconstruction_loss(const Tensor& y, const Tensor& target, int channel_axis, Tensor* grad);

}  // namespace dpl::train
