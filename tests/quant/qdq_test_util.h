// Helpers for the quantization tests: ranges computed here (independently of the
// calibration module), model checks, and lookups in a built QDQ graph.
#pragma once
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "graph/weight_axes.h"
#include "runtime/session.h"

namespace dpl::test {

// The same range for every graph input and node output.
inline ActRanges uniform_act_ranges(const OnnxGraph& g, float lo, float hi) {
  ActRanges r;
  for (const auto& in : g.network_inputs()) r[in] = Range{lo, hi};
  for (const auto& n : g.graph().node())
    for (const auto& o : n.output()) r[o] = Range{lo, hi};
  return r;
}

// Per-output-channel ranges of every float initializer input of the weighted ops and MatMul.
inline WeightRanges all_weight_ranges(const OnnxGraph& g) {
  WeightRanges r;
  for (const auto& n : g.graph().node()) {
    if (!op_has_weight(n.op_type()) && n.op_type() != "MatMul") continue;
    for (int k = 0; k < n.input_size(); ++k) {
      const std::string& t = n.input(k);
      if (!g.is_initializer(t) || g.value_type(t) != DType::F32) continue;
      Tensor w = g.get_initializer(t);
      if (w.rank() == 0) continue;
      r[t] = channel_ranges(w, weight_channel_axis(n, k, w.rank()));
    }
  }
  return r;
}

// Minmax over the given feeds of every float graph input and node output (a Session hook).
inline ActRanges minmax_ranges(const OnnxGraph& g, const std::vector<TensorMap>& feeds) {
  ActRanges r;
  Session s(g);
  s.set_hook([&](const std::string& name, const Tensor& t) {
    if (t.dtype() != DType::F32 || t.numel() == 0) return;
    const float* d = t.data<float>();
    float lo = d[0], hi = d[0];
    for (int64_t i = 1; i < t.numel(); ++i) {
      lo = std::min(lo, d[i]);
      hi = std::max(hi, d[i]);
    }
    auto it = r.find(name);
    if (it == r.end()) {
      r[name] = Range{lo, hi};
    } else {
      it->second.lo = std::min(it->second.lo, lo);
      it->second.hi = std::max(it->second.hi, hi);
    }
  });
  for (const auto& f : feeds) s.run(f);
  return r;
}

// Empty when onnx::checker accepts the model (and, with `strict`, type-checked shape
// inference too), else the message.
inline std::string check_onnx(const OnnxGraph& g, bool strict) {
  try {
    onnx::checker::check_model(g.model());
    if (strict) {
      onnx::ModelProto m = g.model();
      onnx::ShapeInferenceOptions o(true, 1, false);
      onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), o);
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

inline const onnx::NodeProto* find_node(const OnnxGraph& g, const std::string& name) {
  for (const auto& n : g.graph().node())
    if (n.name() == name) return &n;
  return nullptr;
}

inline int node_pos(const OnnxGraph& g, const std::string& name) {
  for (int i = 0; i < g.node_count(); ++i)
    if (g.node(i).name() == name) return i;
  return -1;
}

inline std::vector<std::string> inputs_of(const OnnxGraph& g, const std::string& node) {
  const auto* n = find_node(g, node);
  if (!n) return {"<no node " + node + ">"};
  return std::vector<std::string>(n->input().begin(), n->input().end());
}

inline int count_op(const OnnxGraph& g, const std::string& op) {
  int c = 0;
  for (const auto& n : g.graph().node()) c += n.op_type() == op;
  return c;
}

// The `axis` attribute of a node, or `none`.
inline int64_t axis_attr(const onnx::NodeProto& n, int64_t none = -100) {
  for (const auto& a : n.attribute())
    if (a.name() == "axis") return a.i();
  return none;
}

}  // namespace dpl::test
