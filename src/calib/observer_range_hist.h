// The histogram behind -A lp and -A output (docs/calibration.md): for each tensor, `bins`
// equal bins over [min, max] of a finished min/max stage (signed values, so asymmetric grids
// can be searched), summed over samples. Merging adds the counts (exact); observers can only
// be merged when built from the same min/max state. Unlike hist's |x| histogram, every bin is
// kept: the Lp search reads the whole distribution.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "calib/lp_search.h"
#include "calib/observer_minmax.h"

namespace dpl {

class RangeHistObserver : public Observer {
 public:
  // Observes the tensors `minmax` has a finite range for; others are ignored.
  RangeHistObserver(const MinMaxObserver& minmax, int bins);

  void observe(const std::string& name, const Tensor& value, int samples) override;
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override;
  void reserve(const std::vector<std::string>& tensors) override;

  // Every tensor observed, with its histogram (counts as doubles, as the search reads them).
  std::vector<std::string> tensors() const;
  calib::ValueHistogram histogram(const std::string& name) const;
  int bins() const { return bins_; }

 private:
  struct Entry {
    calib::MinMaxF mm;
    std::vector<uint64_t> counts;  // allocated on first use
  };
  void add_entry(const std::string& name, const Entry& e);
  int bins_;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<uint32_t> part_;  // observe()'s partial counts (4 tables)
};

}  // namespace dpl
