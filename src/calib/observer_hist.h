// hist (docs/spec.md 4): histogram of |x| with `bins` bins over [0, amax], amax = max(-min, max)
// from a finished min/max stage, summed over samples. Merging is exact (integer counts);
// observers can only be merged when built from the same min/max state.
//
// Speed: only the bins at and above the threshold's bin matter, and with thresholds near 1
// (0.99999 by default) that is the far tail. Given the threshold, the observer bins the first
// value of each tensor fully, then keeps exact bins only from a cut that leaves a wide margin
// (64 times the threshold's share, and 64 values) above it, and merely counts the values below
// the cut. Whether the threshold's bin is above the cut is known exactly at the end
// (unresolved()); for the rare tensor where it is not, calibrate_activations runs one more,
// full pass for that tensor. The ranges are the same as with full histograms in every case.
#pragma once
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "calib/observer_minmax.h"

namespace dpl {

class HistObserver : public Observer {
 public:
  // Observes the tensors `minmax` has a finite range for; others are ignored. A threshold
  // enables the cut described above; without one (< 0), every bin is kept.
  HistObserver(const MinMaxObserver& minmax, int bins, double threshold = -1);

  void observe(const std::string& name, const Tensor& value, int samples) override;
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override;  // drops the counts, keeps the min/max ranges and bins
  void reserve(const std::vector<std::string>& tensors) override;  // allocates their counts

  // Tensors whose threshold bin lies below their cut (their range needs a full histogram).
  std::vector<std::string> unresolved(double threshold) const;
  // Keeps only these tensors (for a full pass over the unresolved ones).
  void restrict_to(const std::vector<std::string>& names);
  // Takes over the state of other's tensors (a full pass's).
  void replace(const HistObserver& other);

  // The first bin k whose cumulative share of the counts reaches `threshold` gives
  // c = (k + 0.5) * amax / bins (float) and the range [max(-c, min), min(c, max)]; the
  // min/max range when no bin reaches it (or nothing was counted). Throws for unresolved
  // tensors.
  ActRanges ranges(double threshold) const;

  int bins() const { return bins_; }
  // Counts of one tensor (empty before it is observed; bins below cut(name) are 0, their
  // values are in below(name)); for tests and reports.
  const std::vector<uint64_t>& counts(const std::string& name) const;
  int cut(const std::string& name) const;
  uint64_t below(const std::string& name) const;

 private:
  struct Entry {
    calib::MinMaxF mm;
    float amax = 0.f;
    std::vector<uint64_t> counts;  // allocated on first use
    uint64_t below = 0;            // values in bins < cut
    int cut = 0;                   // bins >= cut are exact
    bool cut_chosen = false;
  };
  void add_entry(const std::string& name, const Entry& e);
  static void fold(Entry& e, int cut);
  int choose_cut(const Entry& e) const;
  // Index of the threshold's bin, -1 when no bin reaches it, -2 when it is below the cut.
  static int threshold_bin(const Entry& e, double threshold, int bins);
  int bins_;
  double threshold_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace dpl
