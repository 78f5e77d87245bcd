#include "train/batch_sampler.h"

#include <algorithm>
#include <numeric>

#include "util/error.h"

namespace dpl::train {

BatchSampler::BatchSampler(int64_t count, int64_t batch, Mode mode, uint64_t seed)
    : count_(count), batch_(std::min(batch, count)), mode_(mode), rng_(seed), perm_(static_cast<size_t>(count)) {
  DPL_CHECK(count > 0 && batch > 0, "batch sampler: {} samples in batches of {}", count, batch);
  std::iota(perm_.begin(), perm_.end(), int64_t{0});
}

std::vector<int64_t> BatchSampler::next() {
  if (mode_ == Mode::Sequential) {
    const int64_t first = cursor_;
    const int64_t n = std::min(batch_, count_ - first);
    cursor_ = first + n == count_ ? 0 : first + n;
    std::vector<int64_t> out(static_cast<size_t>(n));
    std::iota(out.begin(), out.end(), first);
    return out;
  }
  // A partial Fisher-Yates shuffle: the first `batch_` places of a fresh permutation. The
  // bounded draw is done by hand (rejection on the raw 64-bit output) because
  // std::uniform_int_distribution differs between standard libraries.
  for (int64_t i = 0; i < batch_; ++i) {
    const uint64_t range = static_cast<uint64_t>(count_ - i);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r = 0;
    do r = rng_(); while (r >= limit);
    std::swap(perm_[static_cast<size_t>(i)], perm_[static_cast<size_t>(i + static_cast<int64_t>(r % range))]);
  }
  return {perm_.begin(), perm_.begin() + batch_};
}

}  // namespace dpl::train
