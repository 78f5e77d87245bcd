#include "calib/sample_source.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "util/error.h"

namespace dpl {

namespace {

template <typename T>
int64_t count_non_finite(const Tensor& t) {
  const T* p = t.data<T>();
  int64_t bad = 0;
  for (int64_t i = 0; i < t.numel(); ++i) bad += !std::isfinite(p[i]);
  return bad;
}

}  // namespace

std::vector<InputSpec> FolderSampleSource::graph_inputs(const OnnxGraph& graph) {
  std::vector<InputSpec> r;
  for (const auto& name : graph.network_inputs()) {
    auto shape = graph.tensor_shape(name);
    DPL_CHECK(shape.has_value(), "model input '{}' has no declared shape: its sample files cannot be read", name);
    r.push_back({name, *shape, graph.value_type(name)});
  }
  return r;
}

FolderSampleSource::FolderSampleSource(std::string dir, std::vector<InputSpec> inputs, int count)
    : dir_(std::move(dir)), inputs_(std::move(inputs)) {
  DPL_CHECK(!inputs_.empty(), "the model has no input to feed calibration samples to");
  validate_samples(dir_, inputs_, count);
  for (int i = 0; i < count; ++i) {
    std::string bad;
    for (const auto& in : inputs_) {
      if (in.dtype != DType::F32 && in.dtype != DType::F64) continue;
      const Tensor t = read_sample(dir_, in, i);
      const int64_t n = in.dtype == DType::F32 ? count_non_finite<float>(t) : count_non_finite<double>(t);
      if (n > 0) {
        bad = sample_path(dir_, in.name, i);
        spdlog::warn("skipping calibration sample {}: {} holds {} NaN/Inf value(s) out of {}", i, bad, n, t.numel());
        break;
      }
    }
    if (bad.empty())
      good_.push_back(i);
    else
      skipped_.push_back(bad);
  }
  DPL_CHECK(!good_.empty(), "all {} calibration samples hold NaN or Inf values (first: {}): nothing to calibrate on",
            count, skipped_.front());
  if (!skipped_.empty())
    spdlog::warn("{} of {} calibration samples skipped for NaN/Inf values; calibrating on {}", skipped_.size(), count,
                 good_.size());
}

TensorMap FolderSampleSource::batch(int first, int n) {
  DPL_CHECK(first >= 0 && n >= 1 && first + n <= count(), "samples [{}, {}) out of range (0..{})", first, first + n,
            count());
  TensorMap r;
  const bool consecutive = good_[first + n - 1] - good_[first] == n - 1;
  for (const auto& in : inputs_) {
    if (n == 1) {
      r[in.name] = read_sample(dir_, in, good_[first]);
      continue;
    }
    DPL_CHECK(!in.shape.empty(), "model input '{}' is a scalar: its samples cannot be batched (use batch 1)", in.name);
    if (consecutive) {
      r[in.name] = read_batch(dir_, in, good_[first], n);
    } else {
      std::vector<Tensor> parts;
      for (int k = 0; k < n; ++k) parts.push_back(read_sample(dir_, in, good_[first + k]));
      r[in.name] = Tensor::concat_rows(parts);
    }
  }
  return r;
}

std::string FolderSampleSource::describe(int i) const {
  if (i < 0 || i >= count()) return "sample " + std::to_string(i);
  return "sample " + std::to_string(good_[i]) + " (" + sample_path(dir_, inputs_.front().name, good_[i]) + ")";
}

std::vector<std::string> FolderSampleSource::files() const {
  std::vector<std::string> r;
  for (int i : good_)
    for (const auto& in : inputs_) r.push_back(sample_path(dir_, in.name, i));
  return r;
}

TensorMap MemorySampleSource::batch(int first, int n) {
  DPL_CHECK(first >= 0 && n >= 1 && first + n <= count(), "samples [{}, {}) out of range (0..{})", first, first + n,
            count());
  if (n == 1) return samples_[first];
  TensorMap r;
  for (const auto& [name, t] : samples_[first]) {
    DPL_CHECK(t.rank() > 0, "input '{}' is a scalar: its samples cannot be batched (use batch 1)", name);
    std::vector<Tensor> parts;
    for (int k = 0; k < n; ++k) {
      auto it = samples_[first + k].find(name);
      DPL_CHECK(it != samples_[first + k].end(), "sample {} has no value for input '{}'", first + k, name);
      parts.push_back(it->second);
    }
    r[name] = Tensor::concat_rows(parts);
  }
  return r;
}

SampleSlice::SampleSlice(SampleSource& base, int first, int n) : base_(base), first_(first), n_(n) {
  DPL_CHECK(first >= 0 && n >= 0 && first + n <= base.count(), "sample slice [{}, {}) out of range (0..{})", first,
            first + n, base.count());
}

}  // namespace dpl
