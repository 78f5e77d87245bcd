// Profiling results reduced over the ranks of a distributed run (profile/profiler.h).
#include <algorithm>

#include "dist/reduce.h"
#include "profile/profiler.h"
#include "util/error.h"

namespace dpl {

namespace {

// A list of statistics as one mergeable state (dist/reduce.h).
struct StatsList {
  const std::vector<ErrorStats*>& all;
  std::string serialize() const {
    std::string bytes;
    for (const ErrorStats* s : all) bytes += s->serialize();
    return bytes;
  }
  void merge_serialized(std::string_view bytes) {
    const size_t each = ErrorStats().serialize().size();
    DPL_CHECK(bytes.size() == each * all.size(), "another rank sent {} bytes of statistics for {} tensors, not {}",
              bytes.size(), all.size(), each * all.size());
    for (size_t i = 0; i < all.size(); ++i) all[i]->merge_serialized(bytes.substr(i * each, each));
  }
  void clear() {
    for (ErrorStats* s : all) s->clear();
  }
};

}  // namespace

void reduce_error_stats(dist::Comm& comm, const std::vector<ErrorStats*>& all) {
  StatsList list{all};
  dist::reduce_in_rank_order(comm, list);
}

void reduce_over_ranks(dist::Comm& comm, ProfileResult& r) {
  if (!comm.distributed()) return;
  std::vector<ErrorStats*> all;
  for (auto& l : r.layers) all.push_back(&l.stats);
  for (auto& o : r.outputs) all.push_back(&o.stats);
  reduce_error_stats(comm, all);
  r.samples = static_cast<int>(comm.sum(static_cast<double>(r.samples)));
  std::vector<double> secs{r.seconds};
  comm.max(secs);
  r.seconds = secs[0];
}

}  // namespace dpl
