// Schedules of a training run, as functions of the iteration t in [0, total)
// (docs/training.md, "train/"): the learning rate, and the exponent beta of AdaRound's rounding
// regulariser, which starts soft (20) and ends hard (2) after a warm-up without regulariser.
#pragma once
#include <cstdint>
#include <string>

namespace dpl::train {

enum class LrSchedule { Constant, Cosine };
// Constant: base. Cosine: base * (1 + cos(pi t / total)) / 2 (torch's CosineAnnealingLR
// with eta_min 0, T_max = total).
double learning_rate(LrSchedule s, double base, int64_t t, int64_t total);

enum class BetaDecay { Linear, Cosine };
struct BetaSchedule {
  BetaDecay decay = BetaDecay::Linear;  // Linear: the QDrop/BRECQ/MQBench recipe; Cosine: the original's
  double start = 20, end = 2;
  double warm_up = 0.2;  // fraction of the iterations without regulariser
  // 0 during the warm-up (the regulariser is then off: x^0 = 1 makes every term 0); then
  // Linear: end + (start - end) * (1 - r); Cosine: end + (start - end) (1 + cos(pi r)) / 2,
  // with r = (t - warm_up T) / ((1 - warm_up) T) in [0, 1).
  double at(int64_t t, int64_t total) const;
  bool active(int64_t t, int64_t total) const { return t >= warm_up * static_cast<double>(total); }
};

BetaDecay parse_beta_decay(const std::string& name);

}  // namespace dpl::train
