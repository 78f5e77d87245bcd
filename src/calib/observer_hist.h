// hist (SPEC 4): histogram of |x| with `bins` bins over [0, amax], amax = max(-min, max)
// from a finished min/max stage, summed over samples. Merging is exact (integer counts);
// observers can only be merged when built from the same min/max state.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "calib/observer_minmax.h"

namespace dpl {

class HistObserver : public Observer {
 public:
  // Observes the tensors `minmax` has a finite range for; others are ignored.
  HistObserver(const MinMaxObserver& minmax, int bins);

  void observe(const std::string& name, const Tensor& value, int samples) override;
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override;  // drops the counts, keeps the min/max ranges and bins

  // The first bin k whose cumulative share of the counts reaches `threshold` gives
  // c = (k + 0.5) * amax / bins (float) and the range [max(-c, min), min(c, max)]; the
  // min/max range when no bin reaches it (or nothing was counted).
  ActRanges ranges(double threshold) const;

  int bins() const { return bins_; }
  // Counts of one tensor (empty before it is observed); for tests and reports.
  const std::vector<uint64_t>& counts(const std::string& name) const;

 private:
  struct Entry {
    calib::MinMaxF mm;
    float amax = 0.f;
    std::vector<uint64_t> counts;  // allocated on first use
  };
  void add_counts(const std::string& name, const calib::MinMaxF& mm, float amax, const uint64_t* counts);
  int bins_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace dpl
