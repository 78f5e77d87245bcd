// Inference BatchNormalization as a per-channel affine map, y = x * scale + shift with
// scale = gamma / sqrt(var + eps) and shift = beta - mean * scale. One formula for the
// BatchNormalization kernel, the Conv kernel's fused BN and the BN-folding transform.
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

#include "util/error.h"

namespace dpl {

// gamma / sqrt(var + eps) in T. The Conv kernel folds a fused BN in float (T = float),
// as it always has: its fused outputs stay bit-identical to earlier releases; the other
// users work in double.
template <typename T>
inline T bn_scale(T gamma, T var, T eps) {
  return gamma / std::sqrt(var + eps);
}

struct BnAffine {
  std::vector<double> scale, shift;  // per channel
};

// The four parameter vectors must have the same length (checked by the callers, which
// word the error for their context).
inline BnAffine bn_affine(const std::vector<double>& gamma, const std::vector<double>& beta,
                          const std::vector<double>& mean, const std::vector<double>& var, double eps) {
  DPL_CHECK(beta.size() == gamma.size() && mean.size() == gamma.size() && var.size() == gamma.size(),
            "internal: BatchNormalization parameters differ in length");
  BnAffine a;
  a.scale.resize(gamma.size());
  a.shift.resize(gamma.size());
  for (size_t c = 0; c < gamma.size(); ++c) {
    a.scale[c] = bn_scale(gamma[c], var[c], eps);
    a.shift[c] = beta[c] - mean[c] * a.scale[c];
  }
  return a;
}

}  // namespace dpl
