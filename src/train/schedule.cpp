#include "train/schedule.h"

#include <cmath>
#include <numbers>

#include "util/error.h"

namespace dpl::train {

double learning_rate(LrSchedule s, double base, int64_t t, int64_t total) {
  if (s == LrSchedule::Constant || total <= 0) return base;
  return base * (1 + std::cos(std::numbers::pi * static_cast<double>(t) / static_cast<double>(total))) / 2;
}

double BetaSchedule::at(int64_t t, int64_t total) const {
  if (!active(t, total)) return 0;
  const double start_t = warm_up * static_cast<double>(total);
  const double span = static_cast<double>(total) - start_t;
  const double r = span > 0 ? (static_cast<double>(t) - start_t) / span : 0;
  if (decay == BetaDecay::Linear) return end + (start - end) * (1 - r);
  return end + (start - end) * (1 + std::cos(std::numbers::pi * r)) / 2;
}

BetaDecay parse_beta_decay(const std::string& name) {
  if (name == "linear") return BetaDecay::Linear;
  if (name == "cosine") return BetaDecay::Cosine;
  fail("unknown beta decay '{}' (linear, cosine)", name);
}

}  // namespace dpl::train
