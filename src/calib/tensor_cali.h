// Tensor calibration (SPEC 4; the original's tensor_cali): clip ranges for every graph input
// and node output from observers attached to the runtime's hook, one pass over the data per
// algorithm stage (hist needs the minmax pass first), batched, holding at most one batch of
// activations at a time. Observer state is mergeable so ranks of a distributed run can
// reduce it (SPEC 10): min/max by min/max, histograms by sum, OCTAV clips by (sum, count).
#pragma once
#include <functional>
#include <string>

#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "runtime/session.h"

namespace dpl {

enum class CaliAlgo { MinMax, Hist, Mse };
CaliAlgo parse_cali_algo(const std::string& name);  // "minmax" | "hist" | "mse"

// Where calibration samples come from: batches of graph-input tensors.
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual int count() const = 0;
  // Samples [first, first + n) stacked along axis 0, one tensor per graph input.
  virtual TensorMap batch(int first, int n) = 0;
  // Name of sample i for messages (e.g. its file).
  virtual std::string describe(int i) const { return "sample " + std::to_string(i); }
};

struct CaliOptions {
  CaliAlgo algo = CaliAlgo::Mse;
  int bins = 2048;
  double threshold = 0.99999;
  int bits = 8;              // OCTAV's 4^-bits term
  bool dynamic_sym = false;  // platform activations are dynamic_sym (OCTAV's u = 4 when min == 0)
  int batch = 1;
  int threads = 1;
  // Called after each batch with (samples done, total, stage name), for progress bars.
  std::function<void(int, int, const std::string&)> progress;
};

// Ranges for every graph input and every node output (float tensors only).
ActRanges calibrate_activations(const OnnxGraph& graph, SampleSource& data, const CaliOptions& opts);
// Per-output-channel [min, max] of every initializer input after the first of Conv, Gemm,
// ConvTranspose, PRelu, BatchNormalization (SPEC 4, "weights"); scalars skipped.
WeightRanges weight_ranges(const OnnxGraph& graph);

}  // namespace dpl
