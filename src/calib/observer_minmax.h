// minmax (docs/spec.md 4): min and max of every tensor over all samples. Merging is exact.
#pragma once
#include <string>
#include <unordered_map>

#include "calib/observer.h"
#include "calib/ranges.h"
#include "calib/stat_kernels.h"

namespace dpl {

class MinMaxObserver : public Observer {
 public:
  void observe(const std::string& name, const Tensor& value, int samples) override;
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override { stats_.clear(); }
  void reserve(const std::vector<std::string>& tensors) override;

  // Every observed tensor (empty() when it never held a finite value).
  const std::unordered_map<std::string, calib::MinMaxF>& stats() const { return stats_; }
  // [min, max] of every tensor that held a finite value.
  ActRanges ranges() const;

 private:
  std::unordered_map<std::string, calib::MinMaxF> stats_;
};

}  // namespace dpl
