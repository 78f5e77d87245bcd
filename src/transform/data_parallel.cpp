// Data-parallel reconstruction (transform/data_parallel.h).
#include "transform/data_parallel.h"

#include "dist/share.h"
#include "util/error.h"

namespace dpl::transform {

DataParallel::DataParallel(dist::Comm& comm, int64_t local_samples, int64_t batch)
    : comm_(comm), local_samples_(local_samples), batch_(batch) {
  DPL_CHECK(batch >= 1, "the reconstruction batch must be positive, got {}", batch);
  samples_ = static_cast<int64_t>(comm.sum(static_cast<double>(local_samples)));
  local_batch_ = dist::share_of(batch, comm.rank(), comm.size()).count;
  DPL_CHECK(batch >= comm.size(), "the reconstruction batch ({}) is smaller than the number of ranks ({}): every rank "
            "trains on a share of each batch; raise --ada_bs or use fewer ranks",
            batch, comm.size());
}

double DataParallel::reduce(const std::vector<std::span<float>>& grads, double loss, int64_t rows,
                            int64_t* total_rows) const {
  if (!comm_.distributed()) {
    if (total_rows) *total_rows = rows;
    return loss;
  }
  size_t n = 0;
  for (const auto& g : grads) n += g.size();
  buffer_.resize(n + 2);
  const float w = static_cast<float>(rows);
  size_t at = 0;
  for (const auto& g : grads)
    for (float v : g) buffer_[at++] = v * w;
  buffer_[n] = static_cast<float>(loss) * w;
  buffer_[n + 1] = w;
  comm_.sum(std::span<float>(buffer_));
  const float total = buffer_[n + 1];
  at = 0;
  for (const auto& g : grads)
    for (float& v : g) v = buffer_[at++] / total;
  if (total_rows) *total_rows = static_cast<int64_t>(total);
  return buffer_[n] / total;
}

double DataParallel::mean(double local_mean) const {
  if (!comm_.distributed()) return local_mean;
  return comm_.sum(local_mean * static_cast<double>(local_samples_)) / static_cast<double>(samples_);
}

}  // namespace dpl::transform
