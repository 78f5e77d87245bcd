// Where calibration samples come from: batches of graph-input tensors, read on demand so
// that only the current batch is in memory.
#pragma once
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "io/calib_data.h"
#include "runtime/session.h"

namespace dpl {

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual int count() const = 0;
  // Samples [first, first + n) stacked along axis 0, one tensor per graph input.
  virtual TensorMap batch(int first, int n) = 0;
  // Name of sample i for messages (e.g. its file).
  virtual std::string describe(int i) const { return "sample " + std::to_string(i); }
  // The files the samples are read from (empty for samples held in memory): the ranks of a
  // distributed run check that they read the same ones.
  virtual std::vector<std::string> files() const { return {}; }
};

// The original's folder layout (docs/spec.md 3): <dir>/<input>/<i>.bin for i in 0..count-1.
// The constructor checks every file's presence and size (io/calib_data.h), then reads each
// float sample once: a sample any of whose files holds NaN or Inf is skipped with a
// warning naming the file (the others keep their order); when every sample is bad it
// throws. count() is the number of usable samples.
class FolderSampleSource : public SampleSource {
 public:
  FolderSampleSource(std::string dir, std::vector<InputSpec> inputs, int count);
  // Declared name/shape/type of every graph input (unknown dims -1, resolved from the files).
  static std::vector<InputSpec> graph_inputs(const OnnxGraph& graph);

  int count() const override { return static_cast<int>(good_.size()); }
  TensorMap batch(int first, int n) override;
  std::string describe(int i) const override;
  std::vector<std::string> files() const override;

  const std::vector<InputSpec>& inputs() const { return inputs_; }
  // File indices of the usable samples, and the files that were skipped.
  const std::vector<int>& sample_indices() const { return good_; }
  const std::vector<std::string>& skipped_files() const { return skipped_; }

 private:
  std::string dir_;
  std::vector<InputSpec> inputs_;
  std::vector<int> good_;
  std::vector<std::string> skipped_;
};

// Samples held in memory, one TensorMap per sample (tests, or data already decoded).
class MemorySampleSource : public SampleSource {
 public:
  explicit MemorySampleSource(std::vector<TensorMap> samples) : samples_(std::move(samples)) {}
  int count() const override { return static_cast<int>(samples_.size()); }
  TensorMap batch(int first, int n) override;

 private:
  std::vector<TensorMap> samples_;
};

// Samples [first, first + n) of another source (a rank's share in a distributed run).
class SampleSlice : public SampleSource {
 public:
  SampleSlice(SampleSource& base, int first, int n);
  int count() const override { return n_; }
  TensorMap batch(int first, int n) override { return base_.batch(first_ + first, n); }
  std::string describe(int i) const override { return base_.describe(first_ + i); }

 private:
  SampleSource& base_;
  int first_, n_;
};

}  // namespace dpl
