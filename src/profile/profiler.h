// The profiling pass (docs/spec.md 9): the FP32 model and the QDQ model run side by side over the
// calibration samples, one batch at a time. Every output of every quantized node is matched
// by name (a quantized node keeps its output names in the QDQ model) and compared while the
// QDQ model runs; the FP32 values are held only until their QDQ counterpart is produced, so
// memory is one batch's activations whatever the sample count. Network outputs are compared
// against the QDQ model's output of the same name (its `_dq` tensor on platforms that
// quantize the network output).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <string>
#include <vector>

#include "calib/sample_source.h"
#include "dist/comm.h"
#include "graph/onnx_graph.h"
#include "profile/layer_stats.h"
#include "quant/qdq_builder.h"
#include "runtime/segment_runner.h"
#include "runtime/session.h"

namespace dpl {

struct ProfileOptions {
  int batch = 1;         // samples per runtime call
  int threads = 1;
  bool per_layer = true;  // false: network outputs only (--skip_prof_layer), fused sessions
  // Models whose weights still lie in their mapped file (OnnxGraph::mapped_bytes) for this
  // many bytes or more are profiled with streamed weights: weight Q/DQ pairs run on every
  // sample instead of being folded, and kernels keep no packed copies, so that the two
  // sessions share the mapped weights instead of holding two copies each
  // (docs/external_data.md).
  size_t stream_weights_above = size_t{1} << 30;
  std::function<void(int done, int total)> progress;
};

struct LayerProfile {
  std::string node, op_type;  // the quantized node
  std::string tensor;         // one of its outputs
  ErrorStats stats;
};

struct OutputProfile {
  std::string name;    // graph output of the FP32 model
  std::string q_name;  // the tensor compared in the QDQ model
  // At most 10 elements per sample (declared shape without its first axis, as the
  // original decides): one cosine over all samples stacked ("tolcos"), both figures equal.
  bool tolcos = false;
  ErrorStats stats;
  double avg_cos() const { return tolcos ? stats.pooled_cosine() : stats.mean_cosine(); }
  double min_cos() const { return tolcos ? stats.pooled_cosine() : stats.min_cosine(); }
};

struct ProfileResult {
  std::vector<LayerProfile> layers;    // quantized nodes in graph order, then their outputs in order
  std::vector<OutputProfile> outputs;  // graph outputs in order
  int samples = 0;
  double seconds = 0;                  // the pass, model set-up included
};

// True when graph output `name` counts as a small output (see OutputProfile::tolcos).
bool is_tolcos_output(const OnnxGraph& g, const std::string& name);

// FP32 vs QDQ value histograms of one quantized node output (report.html).
struct LayerHistogram {
  std::string node, tensor;
  float lo = 0, hi = 0;         // bin range (values outside count in the end bins)
  std::vector<uint64_t> fp, q;  // counts per bin
  int samples = 0;
};

class Profiler {
 public:
  // `fp` is the FP32 reference; `qdq` was built from it (or from a transformed copy with the
  // same node and tensor names). Both must outlive the profiler.
  Profiler(const OnnxGraph& fp, const QdqModel& qdq, ProfileOptions opts);
  ~Profiler();
  // The streaming pass over every sample of `data`.
  ProfileResult run(SampleSource& data);
  // Histograms of the given quantized node outputs over the first `samples` samples: counted
  // in 4 * bins bins over each one's [lo, hi] (values outside land in the end bins), then cut
  // to the bins both models reach and merged down to at most `bins` bins (lo, hi updated).
  std::vector<LayerHistogram> histograms(SampleSource& data, const std::vector<LayerHistogram>& wanted, int samples,
                                         int bins);
  const OnnxGraph& fp_graph() const { return fp_; }
  // The QDQ model the sessions run (profile/subgraph.h's profiling_graph).
  const OnnxGraph& q_graph() const { return q_graph_; }
  // Unfused FP32 session of fp_graph() (per-layer mode), shared with the sensitivity pass.
  Session& fp_session() { return *fp_s_; }

 private:
  // Runs one batch through both models side by side; `on_pair(tensor, fp, q)` sees every
  // quantized node output listed in `tensors`. Returns (FP32 outputs, QDQ outputs).
  std::pair<TensorMap, TensorMap> run_batch(const TensorMap& feeds,
                                            const std::unordered_map<std::string, int>& tensors,
                                            const std::function<void(int, const Tensor&, const Tensor&)>& on_pair);
  const OnnxGraph& fp_;
  const QdqModel& qdq_;
  ProfileOptions opts_;
  bool stream_weights_;
  OnnxGraph q_graph_;
  std::unique_ptr<Session> fp_s_, q_s_;
  std::unique_ptr<SegmentRunner> fp_run_, q_run_;
  std::vector<LayerProfile> layers_;
  std::vector<std::pair<int, int>> cuts_;  // lockstep segment ends (FP node, QDQ node)
};

// Collective: every rank's result over its own samples merged into the result over all of
// them, the same on every rank (the sums merged in rank order; docs/distributed.md).
void reduce_over_ranks(dist::Comm& comm, ProfileResult& r);
// The same for any list of statistics (the same list, in the same order, on every rank).
void reduce_error_stats(dist::Comm& comm, const std::vector<ErrorStats*>& stats);

// Profiler(fp, qdq, opts).run(data).
ProfileResult profile_qdq(const OnnxGraph& fp, const QdqModel& qdq, SampleSource& data, const ProfileOptions& opts);

// The network outputs of `fp`, paired with their names in a QDQ model (`q_names`: graph
// output -> tensor, QdqModel::outputs).
std::vector<OutputProfile> output_profiles(const OnnxGraph& fp, const std::map<std::string, std::string>& q_names);
// Adds one batch of `batch` samples: FP32 outputs by graph-output name, QDQ outputs by q_name.
void add_output_batch(std::vector<OutputProfile>& outs, const TensorMap& fp, const TensorMap& q, int batch);

}  // namespace dpl
