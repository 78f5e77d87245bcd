// Helpers shared by the kernel tests under tests/runtime/ops (one test file per kernel file of
// src/runtime/ops): value sequences, running a check with one and with two threads, a small
// model with declared input shapes, and the integer requantization reference of the
// QLinear* tests. The oneDNN-backed tests' random tensors and one-node model are in
// dnnl_test_util.h.
#pragma once
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "runtime/parallel.h"
#include "runtime/session.h"

namespace dpl::test {

// start, start + 1, ..., start + n - 1.
inline std::vector<float> iota_f(int64_t n, float start = 0.f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// n uniform values in [lo, hi) from a fixed seed.
inline std::vector<float> random_f(int64_t n, uint32_t seed, float lo = -3.f, float hi = 3.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Runs `body` with 1 and with 2 threads, restoring 1.
inline void with_threads(const std::function<void()>& body) {
  for (int t : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(t));
    set_num_threads(t);
    body();
  }
  set_num_threads(1);
}

// A small model with declared input shapes (OpTester declares the fed shape, so it cannot
// express "exported with batch 1, fed batch 4"). Every node has one output; the graph's
// outputs carry no type.
struct DeclaredShapeModel {
  onnx::ModelProto m;
  DeclaredShapeModel() {
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    m.mutable_graph()->set_name("g");
  }
  DeclaredShapeModel& input(const std::string& name, DType t, const Shape& shape) {
    auto* vi = m.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(t));
    for (auto d : shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
    return *this;
  }
  DeclaredShapeModel& init(const std::string& name, const Tensor& t) {
    *m.mutable_graph()->add_initializer() = tensor_to_proto(t, name);
    return *this;
  }
  DeclaredShapeModel& node(const std::string& op, const std::vector<std::string>& ins, const std::string& out) {
    auto* n = m.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(out + "_node");
    for (auto& i : ins) n->add_input(i);
    n->add_output(out);
    return *this;
  }
  DeclaredShapeModel& output(const std::string& name) {
    m.mutable_graph()->add_output()->set_name(name);
    return *this;
  }
  TensorMap run(const TensorMap& feeds) {
    OnnxGraph g = OnnxGraph::from_model(m);
    Session s(g);
    return s.run(feeds);
  }
};

// An int32 accumulator requantized as the QLinear* operators do: round half to even after
// the multiplier, add the zero point, saturate to Q.
template <typename Q>
Q requant_ref(int64_t acc, float mult, int32_t zp) {
  float v = std::nearbyint(static_cast<float>(acc) * mult) + static_cast<float>(zp);
  v = std::min(std::max(v, static_cast<float>(std::numeric_limits<Q>::min())),
               static_cast<float>(std::numeric_limits<Q>::max()));
  return static_cast<Q>(v);
}

}  // namespace dpl::test
