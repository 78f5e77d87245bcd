#include "train/optimizer.h"

#include <cmath>

#include "util/error.h"

namespace dpl::train {

Adam::Adam(int64_t size, AdamOptions opts) : o_(opts), m_(static_cast<size_t>(size), 0.f), v_(m_) {}

void Adam::step(std::span<float> param, std::span<const float> grad, double lr) {
  DPL_CHECK(param.size() == m_.size() && grad.size() == m_.size(), "Adam: {} parameters and {} gradients for {}",
            param.size(), grad.size(), m_.size());
  if (lr < 0) lr = o_.lr;
  ++t_;
  const double c1 = 1 - std::pow(o_.beta1, static_cast<double>(t_));
  const double c2 = 1 - std::pow(o_.beta2, static_cast<double>(t_));
  const float b1 = static_cast<float>(o_.beta1), b2 = static_cast<float>(o_.beta2);
  const float wd = static_cast<float>(o_.weight_decay);
  const float step = static_cast<float>(lr / c1);
  const float sqrt_c2 = static_cast<float>(std::sqrt(c2));
  const float eps = static_cast<float>(o_.eps);
  const int64_t n = static_cast<int64_t>(param.size());
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + wd * param[i];
    m_[i] = b1 * m_[i] + (1 - b1) * g;
    v_[i] = b2 * v_[i] + (1 - b2) * g * g;
    param[i] -= step * m_[i] / (std::sqrt(v_[i]) / sqrt_c2 + eps);
  }
}

Sgd::Sgd(int64_t size, SgdOptions opts) : o_(opts), buf_(static_cast<size_t>(size), 0.f) {}

void Sgd::step(std::span<float> param, std::span<const float> grad, double lr) {
  DPL_CHECK(param.size() == buf_.size() && grad.size() == buf_.size(), "SGD: {} parameters and {} gradients for {}",
            param.size(), grad.size(), buf_.size());
  if (lr < 0) lr = o_.lr;
  const float mom = static_cast<float>(o_.momentum), wd = static_cast<float>(o_.weight_decay);
  const float rate = static_cast<float>(lr);
  for (size_t i = 0; i < param.size(); ++i) {
    const float g = grad[i] + wd * param[i];
    buf_[i] = first_ ? g : mom * buf_[i] + g;
    param[i] -= rate * buf_[i];
  }
  first_ = false;
}

}  // namespace dpl::train
