// What the stages of one `dipoorlet` run share (the original's __main__.py passes these as
// `onnx_graph, act_clip_val, weight_clip_val, args`). Stages run in this order:
//   prepare -> transform_before_calibration (BN folding) -> calibration ->
//   transform_after_calibration (bias correction, equalization, BN update) -> qdq_stage
//   (QDQ model) -> profile_stage -> deploy_stage -> qop_stage (QOperator model).
// Each stage lives in its own file (cli/stage_*.{h,cpp}) with its own flags.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "calib/tensor_cali.h"
#include "cli/quantize_args.h"
#include "dist/comm.h"
#include "graph/onnx_graph.h"
#include "profile/report.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "transform/weight_gain.h"

namespace dpl {

struct PipelineContext {
  PipelineContext(const QuantizeArgs& a, const Platform& p, OnnxGraph& g, SampleSource& all, SampleSource& d,
                  dist::Comm& c)
      : args(a), platform(p), graph(g), all_data(all), data(d), comm(c) {}
  const QuantizeArgs& args;    // args.output_dir is filled in (default applied)
  const Platform& platform;
  OnnxGraph& graph;            // the prepared FP32 model; weight transforms edit it in place
  SampleSource& all_data;      // every calibration sample
  // This rank's share of them (all of them in one process): every pass over the samples
  // runs on its share and reduces its statistics over the ranks (docs/distributed.md).
  SampleSource& data;
  dist::Comm& comm;            // the ranks; rank 0 alone writes files
  CaliOptions cali;            // the calibration settings in use (algorithm, bins, batch, threads)
  WeightRangeOptions weight_range;  // how weight ranges are found (--w_range, the weights' grids)
  InputMoments input_moments;       // --w_range output: the layers' input statistics (recalibrate)
  WeightGains weight_gain;          // the searched weights' gains (empty without a search)
  // The FP32 weights the gains replaced in `graph` (transform/weight_gain.h): put back before
  // each new search and before a transform that needs them.
  transform::ReplacedWeights fp_weights;
  ActRanges act;               // activation ranges of `graph` (after calibration)
  WeightRanges weight;         // weight ranges of `graph`
  // Activation ranges of the first calibration, before any weight transform (the original
  // builds its QOperator model from these: __main__.py's tensor_range).
  ActRanges first_act;
  // The FP32 model as it was before transform_after_calibration, when that stage may change
  // it (--bc, --we, --update_bn): the original's graph_ori. Profiling compares the QDQ
  // model against it, so that what the transforms gain (or lose) shows.
  std::optional<OnnxGraph> reference;
  const OnnxGraph& fp_reference() const { return reference ? *reference : graph; }
  QdqOptions qdq_options;      // skip_layers and placement switches
  std::optional<QdqModel> qdq; // the QDQ model, once built (before profiling)
  std::vector<LayerSparsity> sparsity;  // --sparse: zeros per layer, for profile.json
  // Recomputes `act` (a full calibration pass with `cali`) and `weight` from `graph`, with
  // progress bars; weight transforms call it after they change the model.
  std::function<void()> recalibrate;
  // Recomputes `weight` only (bias correction changes nothing else).
  std::function<void()> recompute_weight_ranges;

  // Path of a file in the output folder.
  std::string out(const std::string& file) const;
  // Writes `g` as `file` in the output folder, with external data ("<file>.data") when over
  // 2 GB or with --external_data, and logs it.
  void save_model(const OnnxGraph& g, const std::string& file) const;
};

}  // namespace dpl
