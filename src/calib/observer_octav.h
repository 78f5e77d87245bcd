// mse (docs/spec.md 4): OCTAV's MSE-optimal clip s_i of every sample (Newton iteration, see
// calib/stat_kernels.h), averaged over samples: range [max(min, -mean s), min(max, mean s)].
// Merging adds the sums of s and the sample counts (exact counts; the sum of s is a double
// sum, so a merged mean can differ from a one-process mean in the last bits).
//
// As the original: a sample with no nonzero finite value (all zeros) has s = 0/0 = NaN,
// which makes the tensor's mean NaN and its range the plain min/max range.
#pragma once
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "calib/observer.h"
#include "calib/ranges.h"
#include "calib/stat_kernels.h"

namespace dpl {

class OctavObserver : public Observer {
 public:
  // bits: the quantizer's width (the 4^-bits term), tensor_bits: tensors whose width differs
  // (CaliOptions::tensor_bits); dynamic_sym: u = 4 for samples whose min is within 1e-6 of 0.
  explicit OctavObserver(int bits = 8, bool dynamic_sym = false, std::map<std::string, int> tensor_bits = {});

  void observe(const std::string& name, const Tensor& value, int samples) override;
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override { entries_.clear(); }
  void reserve(const std::vector<std::string>& tensors) override;

  ActRanges ranges() const;

  struct Entry {
    calib::MinMaxF mm;
    double sum_s = 0;         // sum of the clips of samples with a defined clip
    int64_t samples = 0;      // samples seen (with weights)
    int64_t nan_samples = 0;  // of which without a defined clip
    int64_t max_steps = 0;    // most Newton steps one sample took (diagnostics)
  };
  const std::unordered_map<std::string, Entry>& entries() const { return entries_; }

 private:
  void add(const std::string& name, const Entry& e);
  int bits_;
  bool dynamic_sym_;
  std::map<std::string, int> tensor_bits_;
  std::unordered_map<std::string, Entry> entries_;
  calib::PageBuffer<float> scratch_;  // OCTAV's working memory: at most the largest value observed
};

}  // namespace dpl
