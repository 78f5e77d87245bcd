// Which cached samples form each training batch (docs/training.md, "train/").
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace dpl::train {

class BatchSampler {
 public:
  enum class Mode {
    Random,     // the references' recipe: every batch drawn afresh, without repeats inside it
    Sequential  // the original's: slices [i bs, (i+1) bs) in order, the last one shorter, then again
  };
  // Batches of `batch` indices out of [0, count) (all of them when batch >= count). The
  // sequence depends on `seed` only (its own generator, same on every platform).
  BatchSampler(int64_t count, int64_t batch, Mode mode, uint64_t seed = 0);
  std::vector<int64_t> next();
  int64_t batches_per_epoch() const { return (count_ + batch_ - 1) / batch_; }

 private:
  int64_t count_, batch_;
  Mode mode_;
  std::mt19937_64 rng_;
  std::vector<int64_t> perm_;
  int64_t cursor_ = 0;
};

}  // namespace dpl::train
