// Calibration observers: statistics of activation tensors gathered while the runtime runs
// (attached to Session::set_hook), one tensor value at a time, a batch of samples at once.
// Their state is mergeable (merge(), or merge_serialized() for state that crossed a process
// boundary), so ranks of a distributed run can each observe their share of the samples and
// reduce afterwards (docs/spec.md 10). Turning the state into ranges is a separate, final step.
//
// Common rules for every observer:
//  - only float32 tensors are observed (int64 shape tensors, bool masks... are ignored);
//  - non-finite values (NaN, +-Inf, e.g. attention masks) are ignored: a range is the range
//    of the finite values, which is what can be quantized;
//  - a tensor that never held a finite value gets no range.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "util/error.h"

namespace dpl {

// How a tensor value computed on a batch of `samples` samples is cut into per-sample parts
// (only OCTAV needs per-sample statistics). When dim 0 is a multiple of `samples`, the value
// is `samples` consecutive row blocks of numel/samples elements, one per sample. Otherwise
// (a scalar, or a tensor whose dim 0 does not carry the batch) the whole value counts as
// one part standing for all `samples` samples (weight = samples): exact for tensors that do
// not depend on the input, which is what such tensors usually are.
struct SampleSplit {
  int64_t parts = 1;     // number of parts
  int64_t part_size = 0; // elements per part
  int weight = 1;        // samples each part stands for
};
SampleSplit split_samples(const Tensor& value, int samples);

class Observer {
 public:
  virtual ~Observer() = default;
  // Statistics of one value of tensor `name` computed on `samples` samples stacked along
  // axis 0. Called on the session thread; may use the runtime's thread pool.
  virtual void observe(const std::string& name, const Tensor& value, int samples) = 0;
  // Adds the statistics of `other` (same kind and settings): afterwards this observer is as
  // if it had seen both sets of samples. Throws when the kinds or settings differ.
  virtual void merge(const Observer& other) = 0;
  // The state as bytes (laid out as calib/observer_state.h says) and the merge of such bytes.
  virtual std::string serialize() const = 0;
  virtual void merge_serialized(std::string_view bytes) = 0;
  virtual void clear() = 0;
  // Creates the state of these tensors now, before a pass: state allocated in the middle of
  // a run would sit between activations in the heap and fragment it (a larger peak).
  virtual void reserve(const std::vector<std::string>& tensors) { (void)tensors; }
  // Whether observe() is also called for tensors that are not float32 or are empty (an
  // observer that re-runs nodes needs all their inputs); by default it is not.
  virtual bool observes_all_dtypes() const { return false; }
  // Called once after the last batch of a pass, before the state is reduced or read.
  virtual void end_pass() {}
};

// `other` as the observer type T, for merge(); throws when it is another kind. `kind` names
// T in the message ("a min/max observer").
template <typename T>
const T& same_kind(const Observer& other, std::string_view kind) {
  const auto* o = dynamic_cast<const T*>(&other);
  DPL_CHECK(o != nullptr, "cannot merge a different kind of observer into {}", kind);
  return *o;
}

}  // namespace dpl
