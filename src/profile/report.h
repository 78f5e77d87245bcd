// Everything one profiling run found, in one structure: what the console prints
// (profile/console_report.h), profile.json and report.html show.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "profile/profiler.h"
#include "profile/sensitivity.h"

namespace dpl {

struct RunSettings {
  std::string model, platform, act_quant, output_dir, command_line, version, date;
  int samples = 0, batch = 1, threads = 1;
  std::vector<std::string> skip_layers;
  bool per_layer = true;          // not --skip_prof_layer
  bool sensitivity = false;
  int sensitivity_samples = 0;
  double target_cos = 0;
  std::string precision;          // the precision plan's summary (TensorPrecisions::summary)
};

// One entry of the original's "Model ranges" list.
struct TensorRange {
  std::string name;
  std::optional<Shape> shape;  // as far as shape inference knows it
  bool weight = false;
  bool per_channel = false;    // a weight the platform quantizes per channel
  float lo = 0, hi = 0;        // weights: lowest channel minimum, highest channel maximum
  int channels = 1;
  int bits = 0;                // its bits in the QDQ model, 0 when it is not quantized
};

// Conv whose weight suffers from one range for all output channels (per-tensor platforms):
// mean over channels of (max - min) divided by the whole weight's (max - min).
struct PerTensorRatio {
  std::string node;
  double ratio = 0;
};

// The zeros of a layer's weight after sparse quantization (--sparse).
struct LayerSparsity {
  std::string node, weight;
  int64_t zeros = 0, total = 0;
  bool pruned = false;  // false: left dense (nv24 on a channel count not a multiple of 4)
};

struct ProfileReport {
  RunSettings settings;
  ProfileResult profile;
  std::vector<TensorRange> ranges;
  bool weights_per_channel = false;    // the platform's weights; per_tensor is empty then
  std::vector<PerTensorRatio> per_tensor;
  std::optional<SensitivityResult> sensitivity;
  std::vector<LayerHistogram> histograms;  // the worst layers, FP32 vs QDQ values
  double cpu_seconds = 0;                  // CPU time of the profiling pass
  double seconds = 0;                      // the whole profiling stage
  std::vector<LayerSparsity> sparsity;     // with --sparse: every layer it saw
};

// Every activation range (graph inputs, then node outputs in graph order, then any other),
// then every weight range (nodes in graph order, inputs in order).
std::vector<TensorRange> tensor_ranges(const OnnxGraph& g, const ActRanges& act, const WeightRanges& weight,
                                       bool weights_per_channel);
// Each quantized tensor's bits and granularity as the QDQ model has them (its pairs).
void set_precision(std::vector<TensorRange>& ranges, const QdqModel& qdq);
// For every Conv with an initializer weight, lowest ratio first (ties by name).
std::vector<PerTensorRatio> per_tensor_weight_ratios(const OnnxGraph& g);
// The `n` lowest layer cosines, lowest first (ties by "node-tensor", as the original's heap).
std::vector<const LayerProfile*> lowest_layers(const ProfileResult& r, size_t n);

}  // namespace dpl
