// AdaRound's learned rounding of one weight tensor (Nagel et al. 2020; docs/training.md,
// "AdaRound"). On the weight's integer grid (per channel along `axis`, or one grid), each
// weight w with step s becomes
//   soft:  w~ = s * clamp(floor(w/s) + h(V), lo, hi),   h(V) = clamp(sigmoid(V) (zeta - gamma) + gamma, 0, 1)
//   hard:  w^ = s * clamp(floor(w/s) + [V >= 0], lo, hi)
// with zeta = 1.1, gamma = -0.1 (the rectified sigmoid every reference uses), and lo, hi the
// bounds of w / s rounded (the code minus the zero point: -zp .. 2^b - 1 - zp when asymmetric). V starts where h(V) equals w/s - floor(w/s), so the first soft
// weight is w itself clamped to the grid. The clamp applies to per-tensor grids too (the
// original drops it there). Hard weights are products k * s of an integer k and the float
// step, which QuantizeLinear -> DequantizeLinear reproduces exactly.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace dpl::train {

struct WeightGrid {
  int axis = -1;              // channel axis of the weight; -1: one grid for the whole tensor
  std::vector<float> scale;   // per channel (or one)
  std::vector<int32_t> lo, hi;  // per channel, bounds of code - zero point
};

class SoftRounding {
 public:
  static constexpr double kZeta = 1.1, kGamma = -0.1;

  SoftRounding(const Tensor& weight, WeightGrid grid);
  const Shape& shape() const { return shape_; }
  int64_t size() const { return static_cast<int64_t>(v_.size()); }
  std::vector<float>& v() { return v_; }
  const std::vector<float>& v() const { return v_; }

  Tensor soft() const;
  Tensor hard() const;
  // Round to nearest on the same grid (what quantization does without AdaRound).
  Tensor nearest() const;
  // dL/dV from dL/d(soft weight) plus lambda times the gradient of the rounding regulariser
  // sum(1 - |2 h(V) - 1|^beta) (none when beta is 0). Returns that regulariser's value.
  double grad_v(const Tensor& grad_soft, double beta, double lambda, std::vector<float>& grad_v) const;
  // Weights whose hard rounding goes up (ceil) and down (floor); and those that differ from
  // round-to-nearest.
  struct Counts {
    int64_t up = 0, down = 0, changed = 0;
  };
  Counts counts() const;

 private:
  int64_t channel(int64_t i) const { return grid_.axis < 0 ? 0 : (i / inner_) % channels_; }
  Tensor make(int mode) const;

  Shape shape_;
  WeightGrid grid_;
  int64_t inner_ = 1, channels_ = 1;
  std::vector<float> floor_;  // floor(w / s)
  std::vector<float> rest_;   // w / s - floor(w / s)
  std::vector<float> v_;
};

}  // namespace dpl::train
