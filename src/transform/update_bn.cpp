#include "transform/update_bn.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "transform/graph_edit.h"
#include "util/error.h"

namespace dpl::transform {

std::pair<std::vector<float>, std::vector<float>> update_bn_statistics(
    const std::vector<float>& mean, const std::vector<float>& var, const std::vector<std::vector<double>>& sample_means,
    const std::vector<std::vector<double>>& sample_vars, double momentum) {
  DPL_CHECK(sample_means.size() == sample_vars.size(), "update_bn_statistics: {} means for {} variances",
            sample_means.size(), sample_vars.size());
  std::vector<double> m(mean.begin(), mean.end()), v(var.begin(), var.end());
  for (size_t i = 0; i < sample_means.size(); ++i) {
    DPL_CHECK(sample_means[i].size() == m.size() && sample_vars[i].size() == v.size(),
              "update_bn_statistics: sample {} has {} channels, the BN {}", i, sample_means[i].size(), m.size());
    for (size_t c = 0; c < m.size(); ++c) {
      m[c] = momentum * m[c] + (1 - momentum) * sample_means[i][c];
      v[c] = momentum * v[c] + (1 - momentum) * sample_vars[i][c];
    }
  }
  return {std::vector<float>(m.begin(), m.end()), std::vector<float>(v.begin(), v.end())};
}

UpdateBnResult update_bn(OnnxGraph& g, SampleSource& data, const Platform& platform, const ActRanges& act,
                         const WeightRanges& weight, const QdqOptions& qdq, const TransformRunOptions& run) {
  UpdateBnResult r;
  IncrementalPass pass;
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    if (n.op_type() != "BatchNormalization") continue;
    const Tensor mean = float_init(g, n, 3), var = float_init(g, n, 4);
    if (!mean.defined() || !var.defined() || mean.numel() != var.numel()) {
      spdlog::info("update BN: {} left alone (its mean and variance are not float initializers)", n.name());
      continue;
    }
    pass.nodes.push_back(i);
  }
  if (pass.nodes.empty()) {
    spdlog::warn("update BN: the model has no BatchNormalization node to update");
    return r;
  }
  pass.label = "update BN";
  pass.momentum = 0.9;
  pass.tensor_of = [](const onnx::NodeProto& n) { return n.input(0); };
  pass.apply = [&](int i, const ChannelStats& s) {
    const std::string name = g.node(i).name();
    const Tensor mean = float_init(g, g.node(i), 3), var = float_init(g, g.node(i), 4);
    DPL_CHECK(static_cast<int64_t>(s.ema_mean.size()) == mean.numel(),
              "update BN: {} has {} channels but its input has {}", name, mean.numel(), s.ema_mean.size());
    // Closed form of the per-sample rule (update_bn_statistics) from the moving sums:
    // stat_n = m^n * stat_0 + (1 - m) * sum_i m^(n-1-i) x_i.
    const double decay = std::pow(pass.momentum, static_cast<double>(s.samples));
    const auto m0 = mean.to_f32_vector(), v0 = var.to_f32_vector();
    std::vector<float> m1(m0.size()), v1(v0.size());
    for (size_t c = 0; c < m0.size(); ++c) {
      m1[c] = static_cast<float>(decay * m0[c] + (1 - pass.momentum) * s.ema_mean[c]);
      v1[c] = static_cast<float>(decay * v0[c] + (1 - pass.momentum) * s.ema_var[c]);
    }
    const int64_t c = mean.numel();
    set_node_input_value(g, i, 3, Tensor::from_vector<float>({c}, m1), "mean");
    set_node_input_value(g, i, 4, Tensor::from_vector<float>({c}, v1), "var");
    r.updated.push_back(name);
  };
  r.passes = run_incremental(g, pass, data, platform, act, weight, qdq, run);
  return r;
}

}  // namespace dpl::transform
