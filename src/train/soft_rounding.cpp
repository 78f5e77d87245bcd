#include "train/soft_rounding.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace dpl::train {

namespace {

inline double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

// The rectified sigmoid before its clamp.
inline double h_raw(float v) {
  return sigmoid(v) * (SoftRounding::kZeta - SoftRounding::kGamma) + SoftRounding::kGamma;
}

inline double clamp01(double x) { return std::min(1.0, std::max(0.0, x)); }

}  // namespace

SoftRounding::SoftRounding(const Tensor& weight, WeightGrid grid) : shape_(weight.shape()), grid_(std::move(grid)) {
  DPL_CHECK(weight.dtype() == DType::F32, "AdaRound: the weight is {}, not float32", dtype_name(weight.dtype()));
  if (grid_.axis >= 0) {
    DPL_CHECK(grid_.axis < weight.rank(), "AdaRound: channel axis {} of a rank-{} weight", grid_.axis, weight.rank());
    channels_ = weight.dim(grid_.axis);
    for (int a = grid_.axis + 1; a < weight.rank(); ++a) inner_ *= weight.dim(a);
  }
  DPL_CHECK(static_cast<int64_t>(grid_.scale.size()) == channels_ && grid_.lo.size() == grid_.scale.size() &&
                grid_.hi.size() == grid_.scale.size(),
            "AdaRound: {} grid(s) for a weight with {} channel(s)", grid_.scale.size(), channels_);
  for (size_t c = 0; c < grid_.scale.size(); ++c)
    DPL_CHECK(grid_.scale[c] > 0 && std::isfinite(grid_.scale[c]) && grid_.lo[c] <= grid_.hi[c],
              "AdaRound: channel {} has step {} and codes {}..{}", c, grid_.scale[c], grid_.lo[c], grid_.hi[c]);
  const int64_t n = weight.numel();
  const float* w = weight.data<float>();
  floor_.resize(static_cast<size_t>(n));
  rest_.resize(static_cast<size_t>(n));
  v_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(w[i]) / grid_.scale[static_cast<size_t>(channel(i))];
    const double f = std::floor(x);
    const double r = x - f;  // in [0, 1)
    floor_[i] = static_cast<float>(f);
    rest_[i] = static_cast<float>(r);
    // h(V0) = r: sigmoid(V0) = (r - gamma) / (zeta - gamma).
    v_[i] = static_cast<float>(-std::log((kZeta - kGamma) / (r - kGamma) - 1));
  }
}

// mode 0: soft, 1: hard, 2: nearest.
Tensor SoftRounding::make(int mode) const {
  Tensor out(DType::F32, shape_);
  float* o = out.data<float>();
  const int64_t n = size();
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = static_cast<size_t>(channel(i));
    double up = 0;
    if (mode == 0) up = clamp01(h_raw(v_[i]));
    else if (mode == 1) up = v_[i] >= 0 ? 1 : 0;
    else up = rest_[i] >= 0.5f ? 1 : 0;
    const double q = std::min<double>(grid_.hi[c], std::max<double>(grid_.lo[c], floor_[i] + up));
    // k * s in float, as DequantizeLinear computes it, for the hard and nearest weights.
    o[i] = mode == 0 ? static_cast<float>(q * grid_.scale[c]) : static_cast<float>(q) * grid_.scale[c];
  }
  return out;
}

Tensor SoftRounding::soft() const { return make(0); }
Tensor SoftRounding::hard() const { return make(1); }
Tensor SoftRounding::nearest() const { return make(2); }

double SoftRounding::grad_v(const Tensor& grad_soft, double beta, double lambda, std::vector<float>& grad_v) const {
  DPL_CHECK(grad_soft.shape() == shape_ && grad_soft.dtype() == DType::F32,
            "AdaRound: gradient of shape {} for a weight of shape {}", shape_str(grad_soft.shape()), shape_str(shape_));
  const int64_t n = size();
  grad_v.resize(static_cast<size_t>(n));
  const float* g = grad_soft.data<float>();
  double reg = 0;
#pragma omp parallel for reduction(+ : reg) if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = static_cast<size_t>(channel(i));
    const double sg = sigmoid(v_[i]);
    const double hr = sg * (kZeta - kGamma) + kGamma;
    const double h = clamp01(hr);
    // d(soft weight)/dh = s while floor + h lies strictly inside the grid, 0 where clamped.
    const double q = floor_[i] + h;
    double dh = (q > grid_.lo[c] && q < grid_.hi[c]) ? g[i] * static_cast<double>(grid_.scale[c]) : 0;
    if (beta > 0) {
      const double t = 2 * h - 1;
      const double a = std::abs(t);
      reg += 1 - std::pow(a, beta);
      // d/dh (1 - |2h - 1|^beta) = -2 beta |2h - 1|^(beta - 1) sign(2h - 1)
      if (a > 0) dh += lambda * -2 * beta * std::pow(a, beta - 1) * (t > 0 ? 1 : -1);
    }
    const double dh_dv = (hr > 0 && hr < 1) ? (kZeta - kGamma) * sg * (1 - sg) : 0;
    grad_v[static_cast<size_t>(i)] = static_cast<float>(dh * dh_dv);
  }
  return lambda * reg;
}

SoftRounding::Counts SoftRounding::counts() const {
  Counts c;
  for (int64_t i = 0; i < size(); ++i) {
    const bool up = v_[i] >= 0;
    (up ? c.up : c.down)++;
    if (up != (rest_[i] >= 0.5f)) ++c.changed;
  }
  return c;
}

}  // namespace dpl::train
