// Tensor calibration (docs/spec.md 4; the original's tensor_cali): clip ranges for every graph input
// and node output from observers attached to the runtime's hook, one pass over the data per
// algorithm stage (hist needs the minmax pass first), batched, holding at most one batch of
// activations at a time. Observer state is mergeable so ranks of a distributed run can
// reduce it (docs/spec.md 10): min/max by min/max, histograms by sum, OCTAV clips by (sum, count).
//
// Semantics (details in calib/observer*.h):
//  - float32 tensors only; NaN and +-Inf values are ignored; a tensor without any finite
//    value gets no range (warned).
//  - batches: the ranges do not depend on the batch size (minmax and hist exactly; OCTAV's
//    per-sample clips too, as long as dim 0 of a tensor carries the batch, see SampleSplit).
//  - hist keeps exact bins only near the threshold's bin; a tensor whose final threshold bin
//    falls outside them gets one more, full pass (logged), so results equal full histograms.
//  - OCTAV: a sample with no nonzero value gives a NaN clip (0/0, as the original), which
//    turns that tensor's range into its min/max range.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "calib/observer.h"
#include "calib/observer_moments.h"
#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "graph/onnx_graph.h"
#include "runtime/session.h"

namespace dpl {

// mse is OCTAV; lp, kl and output are described in docs/calibration.md.
enum class CaliAlgo { MinMax, Hist, Mse, Lp, Kl, Output };
CaliAlgo parse_cali_algo(const std::string& name);  // "minmax" | "hist" | "mse" | "lp" | "kl" | "output"
const char* cali_algo_names();                      // "minmax, hist, mse, lp, kl, output"

// The integer grid one tensor is quantized to, as far as a range search needs to know it.
// The precision plan (quant/precision.h) decides it per tensor; calibration only reads it.
struct TensorGrid {
  int bits = 8;
  bool symmetric = true;
  bool per_channel = false;  // weights only
};

struct CaliOptions {
  CaliAlgo algo = CaliAlgo::Mse;
  int bins = 2048;
  double threshold = 0.99999;
  int bits = 8;              // the activations' bit width (OCTAV's 4^-bits term)
  // Activations whose bit width differs from `bits` (the precision plan's overrides).
  std::map<std::string, int> tensor_bits;
  int bits_of(const std::string& tensor) const {
    auto it = tensor_bits.find(tensor);
    return it == tensor_bits.end() ? bits : it->second;
  }
  bool dynamic_sym = false;  // platform activations are dynamic_sym (OCTAV's u = 4 when min == 0)
  bool symmetric = true;     // the activations' grid (lp, kl and output search on it)
  int batch = 1;
  int threads = 1;
  // Called after each batch with (samples done, total, stage name), for progress bars.
  std::function<void(int, int, const std::string&)> progress;
  // Called after each stage's local pass with its observer, before its statistics are used
  // (by the next stage or for the ranges): a distributed run merges the other ranks' state
  // into it here (Observer::serialize / merge_serialized), each rank having observed its
  // own SampleSlice.
  std::function<void(Observer&, const std::string& stage)> reduce;
};

// One pass of `observer` over all samples of `data`, `opts.batch` samples per run of
// `session` (with a hook installed for the pass and removed after). When the first run of a
// batch of several samples fails (a model whose graph pins the batch size), the pass warns
// and starts over one sample at a time.
void observe_pass(Session& session, SampleSource& data, Observer& observer, const CaliOptions& opts,
                  const std::string& stage);

// Ranges for every graph input and every node output (float tensors only; tensors that never
// held a finite value get none, with a warning).
ActRanges calibrate_activations(const OnnxGraph& graph, SampleSource& data, const CaliOptions& opts);
// Per-output-channel [min, max] of every float initializer input after the first of Conv,
// Gemm, ConvTranspose, PRelu, BatchNormalization, and of constant MatMul B (docs/spec.md 4, "weights"),
// along the axis the QDQ builder quantizes it on (graph/weight_axes.h: ConvTranspose weights
// axis 1 as the original's swap, Gemm weights their output axis where the original takes
// axis 0); scalars skipped, and inputs that are not initializers too (the original fails).
// `opts` says how each weight will be quantized, for the range searches that depend on it
// (--w_range); min/max ignores it.
// Mse: the Lp search of calib/weight_range_search.h on each weight's grid. Output: its
// output-aware search, from `input_moments` (layer_input_moments below); a layer whose input
// has no moments there gets the Lp search (counted in the log).
enum class WeightRangeAlgo { MinMax, Mse, Output };
struct WeightRangeOptions {
  WeightRangeAlgo algo = WeightRangeAlgo::MinMax;
  const InputMoments* input_moments = nullptr;  // --w_range output: by layer input tensor
  bool gain = true;  // the searches' gain correction (weight_range_search.h; off: --no_weight_gain)
  int threads = 1;   // the searches run their channels on this many threads
  // The weights the QDQ model quantizes (the platform's placement, the precision plan): only
  // they get gains, the others stay FP32 in every model. None: every weight.
  std::optional<std::set<std::string>> quantized;
  TensorGrid grid;                             // the platform's weight grid
  std::map<std::string, TensorGrid> tensor_grid;  // weights whose grid differs (the precision plan)
  const TensorGrid& grid_of(const std::string& weight) const {
    auto it = tensor_grid.find(weight);
    return it == tensor_grid.end() ? grid : it->second;
  }
};
// Per searched weight, its channels' gains (weight_range_search.h, "Gain correction").
using WeightGains = std::map<std::string, std::vector<float>>;
// With `gains` and opts.gain, the searches (mse, output) score their candidates after the
// gain correction and report each weight's gains there (apply them with apply_weight_gain).
WeightRanges weight_ranges(const OnnxGraph& graph, const WeightRangeOptions& opts = {}, WeightGains* gains = nullptr);

// --w_range output: one pass over `data` for the per-channel mean and variance of the data
// input of every Conv, ConvTranspose, Gemm and MatMul with a constant weight.
InputMoments layer_input_moments(const OnnxGraph& graph, SampleSource& data, const CaliOptions& opts);

}  // namespace dpl
