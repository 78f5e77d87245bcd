// BN update (`--update_bn`, docs/spec.md 8): BatchNormalization statistics re-estimated on the
// inputs the BNs see in the quantized model, incrementally: BNs in graph order, each
// measured in the QDQ model built (with the calibration ranges) from the model with the
// BNs before it already updated. Per BN, over the calibration samples i in order, with
// momentum m = 0.9 and x_i the BN input of sample i reduced per channel over every axis
// but 1:
//   mean <- m * mean + (1 - m) * mean(x_i)
//   var  <- m * var  + (1 - m) * var(x_i)      (population variance)
// The original moves `var` toward the standard deviation of x_i (np.std); a variance is
// moved toward a variance here, which is what the statistic is.
// BNs whose updates do not depend on each other are measured in the same pass over the
// data (transform/graph_edit.h dependency_levels), which gives the same result as one
// BN at a time.
#pragma once
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "calib/sample_source.h"
#include "graph/onnx_graph.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "transform/incremental.h"

namespace dpl::transform {

// The update rule on one BN's statistics: `sample_means[i]` / `sample_vars[i]` are sample
// i's per-channel mean and variance; returns the new (mean, var).
std::pair<std::vector<float>, std::vector<float>> update_bn_statistics(
    const std::vector<float>& mean, const std::vector<float>& var, const std::vector<std::vector<double>>& sample_means,
    const std::vector<std::vector<double>>& sample_vars, double momentum = 0.9);

struct UpdateBnResult {
  std::vector<std::string> updated;  // BN node names
  int passes = 0;                    // passes over the data
};

// Updates every BatchNormalization of `g` whose mean and variance are float initializers
// (shared ones are copied first); the others are logged and left alone.
UpdateBnResult update_bn(OnnxGraph& g, SampleSource& data, const Platform& platform, const ActRanges& act,
                         const WeightRanges& weight, const QdqOptions& qdq, const TransformRunOptions& run);

}  // namespace dpl::transform
