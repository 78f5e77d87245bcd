// Per-sample values cached for reconstruction, one fixed-size row per calibration sample
// (docs/training.md, "Cache"): the frontiers (recon_frontier.h) hold them, and training
// draws batches of the layer's input and target rows thousands of times. While they fit in what
// is left of the budget (--cache_mb) they live in memory; beyond it they spill to a file in
// the output folder and batches are read back with pread. The file is unlinked as soon as
// it is created, so nothing is left behind whatever ends the process (error, Ctrl-C,
// kill -9); the page cache that serves the reads is the kernel's, not counted in the
// process's resident memory, so peak RSS does not grow with -N.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/observer.h"
#include "calib/sample_source.h"
#include "core/tensor.h"
#include "graph/onnx_graph.h"
#include "transform/incremental.h"

namespace dpl::transform {

// Bytes a cache may hold in memory (AdaRound and sparse give inputs and targets half of
// --cache_mb each; QDrop gives its quantized inputs, FP32 inputs and targets a third each).
struct CacheBudget {
  int64_t bytes_left = 0;
  std::string spill_dir;  // where spill files go (the output folder)
};

class SampleCache {
 public:
  // `count` rows of shape `row` (float32). Takes its bytes from `budget` when they fit,
  // else spills to a file in budget.spill_dir. `batch` rows must fit the budget in any case
  // (one batch is in memory while training): otherwise throws naming `label` and the flag.
  // The budget must outlive the cache, which returns its bytes to it when destroyed.
  // Rows of any element type (the frontiers also carry integer values, e.g. a Shape's); a
  // row that is never gathered more than one at a time (batch 1) may have any shape.
  SampleCache(std::string label, int64_t count, Shape row, int64_t batch, CacheBudget& budget,
              DType dtype = DType::F32);
  ~SampleCache();
  SampleCache(const SampleCache&) = delete;
  SampleCache& operator=(const SampleCache&) = delete;

  bool spilled() const { return fd_ >= 0; }
  int64_t count() const { return count_; }
  const Shape& row_shape() const { return row_; }
  DType dtype() const { return dtype_; }
  int64_t row_bytes() const { return row_elems_ * static_cast<int64_t>(dtype_size(dtype_)); }
  void put(int64_t i, const void* row);
  // Rows `idx` stacked along axis 0: shape [idx.size() * row[0], row[1:]...].
  Tensor gather(const std::vector<int64_t>& idx) const;

 private:
  std::string label_;
  int64_t count_, row_elems_ = 1;
  Shape row_;
  DType dtype_;
  std::vector<uint8_t> mem_;
  int fd_ = -1;
  std::string dir_;
  CacheBudget* budget_;  // gets taken_ back when the cache is destroyed
  int64_t taken_ = 0;
};

// An observer (calib/observer.h) that stores the values of chosen tensors in caches, one
// row per sample: the pass runs the model over the samples in order, and the row shape is
// each value's with axis 0 divided by the samples it holds. Not mergeable: a distributed run
// caches each rank's own samples.
class CacheFiller : public Observer {
 public:
  // `make(tensor, row shape, type)` creates the cache of a tensor when its first value arrives.
  using Make = std::function<SampleCache&(const std::string& tensor, const Shape& row, DType dtype)>;
  CacheFiller(std::vector<std::string> tensors, Make make);
  void observe(const std::string& name, const Tensor& value, int samples) override;
  bool observes_all_dtypes() const override { return true; }
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override;

 private:
  std::vector<std::string> tensors_;
  Make make_;
  std::map<std::string, std::pair<SampleCache*, int64_t>> filled_;  // cache, rows written
};

}  // namespace dpl::transform
