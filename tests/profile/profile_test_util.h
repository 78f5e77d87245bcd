// Small models whose quantization error is known by construction, for the profiling tests.
//
// Chains of 1x1 Convs on x [N,4,1,1]. Every Conv has the 4x4 identity as its 1x1 weight and
// no bias, so the FP32 model passes x through. On trt (symmetric int8, per-channel weights) the identity weights quantize
// exactly (scale 1/127, 1 -> 127 -> 1.0f), and an input range [-127, 127] (scale 1) keeps
// integer values exact. A range too small saturates: [-1, 1] makes every value >= 1 read as
// 1.0 exactly (127 * (1/127) rounds to 1.0f).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "calib/sample_source.h"
#include "graph/model_builder.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "optimizer/prepare.h"

namespace dpl::test {

inline Tensor identity_weight() {
  std::vector<float> w(16, 0.f);
  for (int c = 0; c < 4; ++c) w[c * 4 + c] = 1.f;
  return Tensor::from_vector<float>({4, 4, 1, 1}, w);
}

// The start both models share: x -> Conv1 -> t1 -> Conv2 -> t2, and W3 for their Conv3.
inline void identity_convs_1_2(ModelBuilder& b) {
  b.input("x", {-1, 4, 1, 1})
      .init("W1", identity_weight())
      .init("W2", identity_weight())
      .init("W3", identity_weight())
      .node("Conv", {"x", "W1"}, {"t1"}, "Conv1")
      .node("Conv", {"t1", "W2"}, {"t2"}, "Conv2");
}

inline OnnxGraph prepared_graph(const ModelBuilder& b) {
  OnnxGraph g = b.graph();
  prepare_model(g);
  return g;
}

// x -> Conv1 -> t1 -> Conv2 -> t2 -> Conv3 -> t3 (output).
inline OnnxGraph identity_chain() {
  ModelBuilder b;
  identity_convs_1_2(b);
  b.node("Conv", {"t2", "W3"}, {"t3"}, "Conv3").output("t3", {-1, 4, 1, 1});
  return prepared_graph(b);
}

// x -> Conv1 -> t1 -> Conv2 -> t2 -> Add1(t2, x) -> t3 -> Conv3 -> y (output): the residual
// brings part of the signal back after Conv2, so layers after it score better than Conv2.
inline OnnxGraph identity_residual() {
  ModelBuilder b;
  identity_convs_1_2(b);
  b.node("Add", {"t2", "x"}, {"t3"}, "Add1").node("Conv", {"t3", "W3"}, {"y"}, "Conv3").output("y", {-1, 4, 1, 1});
  return prepared_graph(b);
}

// Ranges [-127, 127] everywhere except those given.
inline ActRanges chain_ranges(const OnnxGraph& g, const std::map<std::string, Range>& small) {
  ActRanges r = uniform_act_ranges(g, -127.f, 127.f);
  for (const auto& [t, range] : small) r[t] = range;
  return r;
}

// One sample per row of `values` (4 values each).
inline std::vector<TensorMap> chain_samples(const std::vector<std::vector<float>>& values) {
  std::vector<TensorMap> s;
  for (const auto& v : values) s.push_back({{"x", Tensor::from_vector<float>({1, 4, 1, 1}, v)}});
  return s;
}

}  // namespace dpl::test
