#include "transform/bias_correction.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "transform/graph_edit.h"
#include "util/error.h"

namespace dpl::transform {

namespace {

// Output channels of a Conv / Gemm from its weight.
int64_t output_channels(const onnx::NodeProto& n, const Tensor& w) {
  if (n.op_type() == "Gemm") return attr_int(n, "transB", 0) != 0 ? w.dim(0) : w.dim(1);
  return w.dim(0);
}

// Why node `i` cannot be corrected, or nothing.
std::optional<std::string> check_node(const OnnxGraph& g, int i) {
  const auto& n = g.node(i);
  const Tensor w = float_init(g, n, 1);
  if (!w.defined() || w.rank() < 2) return "its weight is not a float initializer";
  if (n.op_type() == "Gemm" && w.rank() != 2) return "its weight is not 2-D";
  if (n.output_size() < 1 || n.output(0).empty()) return "it has no output";
  if (n.input_size() > 2 && !n.input(2).empty()) {
    const Tensor b = float_init(g, n, 2);
    if (!b.defined()) return "its bias is not a float initializer";
    const int64_t c = output_channels(n, w);
    const bool per_channel =
        b.numel() == c && (b.rank() == 1 || (n.op_type() == "Gemm" && b.rank() == 2 && b.dim(0) == 1));
    if (!per_channel && !(n.op_type() == "Gemm" && b.numel() == 1))
      return "its bias " + shape_str(b.shape()) + " is not one value per output channel";
  }
  return std::nullopt;
}

// Gives node `i` an own per-channel bias [C] (zeros when it had none; a Gemm's beta * C
// broadcast per column, beta set to 1). The FP function is unchanged.
void normalise_bias(OnnxGraph& g, int i) {
  const auto& n = g.node(i);
  const int64_t c = output_channels(n, float_init(g, n, 1));
  std::vector<float> b(c, 0.f);
  if (n.input_size() > 2 && !n.input(2).empty()) {
    const auto v = float_init(g, n, 2).to_f32_vector();
    const float beta = n.op_type() == "Gemm" ? attr_float(n, "beta", 1.f) : 1.f;
    for (int64_t k = 0; k < c; ++k) b[k] = beta * v[v.size() == 1 ? 0 : k];
  }
  set_node_input_value(g, i, 2, Tensor::from_vector<float>({c}, b), "bias");
  if (g.node(i).op_type() == "Gemm") set_attr(g.mutable_node(i), "beta", 1.f);
}

}  // namespace

BiasCorrectionResult bias_correction(OnnxGraph& g, SampleSource& data, const Platform& platform, const ActRanges& act,
                                     const WeightRanges& weight, const QdqOptions& qdq,
                                     const TransformRunOptions& run) {
  BiasCorrectionResult r;
  IncrementalPass pass;
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    if (n.op_type() != "Conv" && n.op_type() != "Gemm") continue;
    if (auto why = check_node(g, i)) {
      spdlog::info("bias correction: {} left alone ({})", n.name(), *why);
      continue;
    }
    pass.nodes.push_back(i);
  }
  if (pass.nodes.empty()) {
    spdlog::warn("bias correction: the model has no Conv or Gemm to correct");
    return r;
  }
  // FP32 means of every node's output, from the model before any correction.
  std::vector<std::string> outputs;
  for (int i : pass.nodes) outputs.push_back(g.node(i).output(0));
  std::map<std::string, std::vector<double>> fp_mean;
  {
    StatsRunOptions so;
    so.threads = run.threads;
    so.batch = run.batch;
    so.stage = "bias correction (FP32 means)";
    so.comm = run.comm;
    ChannelStatsObserver fp = channel_stats_streamed(g, outputs, data, so);
    for (const auto& t : outputs) fp_mean[t] = fp.stats(t).mean();
  }
  for (int i : pass.nodes) normalise_bias(g, i);

  pass.label = "bias correction";
  pass.tensor_of = [](const onnx::NodeProto& n) { return n.output(0); };
  pass.apply = [&](int i, const ChannelStats& s) {
    const std::string name = g.node(i).name();
    const std::vector<double>& fp = fp_mean.at(g.node(i).output(0));
    const std::vector<double> q = s.mean();
    DPL_CHECK(fp.size() == q.size(), "bias correction: {} has {} channels in the FP32 model and {} in the QDQ model",
              name, fp.size(), q.size());
    std::vector<float> b = float_init(g, g.node(i), 2).to_f32_vector();
    DPL_CHECK(b.size() == q.size(), "bias correction: {} has {} output channels but a bias of {}", name, q.size(),
              b.size());
    BiasCorrectionResult::Node rec{name};
    for (size_t c = 0; c < b.size(); ++c) {
      const double d = fp[c] - q[c];
      b[c] = static_cast<float>(b[c] + d);
      rec.mean_abs += std::fabs(d) / static_cast<double>(b.size());
      rec.max_abs = std::max(rec.max_abs, std::fabs(d));
    }
    set_node_input_value(g, i, 2, Tensor::from_vector<float>({static_cast<int64_t>(b.size())}, b), "bias");
    r.corrected.push_back(rec);
  };
  r.passes = run_incremental(g, pass, data, platform, act, weight, qdq, run);
  std::stable_sort(r.corrected.begin(), r.corrected.end(),
                   [&](const auto& a, const auto& b) { return g.node_index(a.name) < g.node_index(b.name); });
  for (const auto& c : r.corrected)
    spdlog::info("bias correction: {}: mean |correction| {:.3g}, max {:.3g}", c.name, c.mean_abs, c.max_abs);
  return r;
}

}  // namespace dpl::transform
