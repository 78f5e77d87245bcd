// Data-parallel reconstruction over the ranks of a distributed run (docs/distributed.md).
// Each rank caches only its own samples and draws its batches from them with a seed of its
// own; a global batch of B rows is split over the ranks as their samples are (the first
// B % K ranks one row more). Before every update the ranks' gradients of their rows' mean
// loss are combined, weighted by rows, into the gradient of the global batch's mean loss, in
// one exchange per update; every rank gets the very same values (dist/comm.h), so the
// parameters (AdaRound's V, LSQ steps, sparse weights) stay identical on all ranks. With one
// process every call is the identity.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "dist/comm.h"

namespace dpl::transform {

class DataParallel {
 public:
  // `local_samples`: this rank's samples; `batch`: the global batch.
  DataParallel(dist::Comm& comm, int64_t local_samples, int64_t batch);

  int64_t samples() const { return samples_; }              // over all ranks
  int64_t local_batch() const { return local_batch_; }
  // Batches per epoch of the global data (the original's epochs of sequential batches).
  int64_t batches_per_epoch() const { return (samples_ + batch_ - 1) / batch_; }
  // A seed of this rank's own for the batch sampler (rank 0: `base`, as one process).
  uint64_t seed(uint64_t base) const { return base + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(comm_.rank()); }

  // Combines, in place, the gradients of one update (this rank's mean over `rows` rows) into
  // the global batch's. Returns the global mean of `loss` and sets `*total_rows` when given.
  double reduce(const std::vector<std::span<float>>& grads, double loss, int64_t rows,
                int64_t* total_rows = nullptr) const;
  // The mean over all samples of a figure whose mean over this rank's samples is `local_mean`.
  double mean(double local_mean) const;

 private:
  dist::Comm& comm_;
  int64_t local_samples_, samples_, batch_, local_batch_;
  mutable std::vector<float> buffer_;
};

}  // namespace dpl::transform
