// Helpers for the oneDNN-backed kernel tests: random tensors and a one-node model whose
// inputs have symbolic dims, so one Session can be run with different shapes.
#pragma once
#include <onnx/onnx_pb.h>

#include <random>
#include <string>
#include <vector>

#include "graph/node_attrs.h"
#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "runtime/session.h"

namespace dpl::test {

inline Tensor random_f32(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::F32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

template <typename T>
Tensor random_int(Shape shape, uint32_t seed, int lo, int hi) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(d(rng));
  return t;
}

// One node; `inputs` are fed at run time (rank given by the example tensor, every dim
// symbolic), `inits` become initializers. Input order on the node: as listed in `order`
// ("" for an omitted optional input).
class OneNodeModel {
 public:
  explicit OneNodeModel(const std::string& op_type, int opset = 13) : opset_(opset) {
    node_.set_op_type(op_type);
    node_.set_name("node");
  }
  OneNodeModel& attr_i(const std::string& n, int64_t v) { return set_attr(node_, n, v), *this; }
  OneNodeModel& attr_f(const std::string& n, float v) { return set_attr(node_, n, v), *this; }
  OneNodeModel& attr_s(const std::string& n, const std::string& v) { return set_attr(node_, n, v), *this; }
  OneNodeModel& attr_ints(const std::string& n, const std::vector<int64_t>& v) { return set_attr(node_, n, v), *this; }
  OneNodeModel& input(const std::string& name, const Tensor& example) {
    node_.add_input(name);
    auto* vi = graph_.add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(example.dtype()));
    for (int d = 0; d < example.rank(); ++d) tt->mutable_shape()->add_dim()->set_dim_param("d" + std::to_string(d));
    return *this;
  }
  OneNodeModel& init(const std::string& name, const Tensor& value) {
    node_.add_input(name);
    *graph_.add_initializer() = tensor_to_proto(value, name);
    return *this;
  }
  OneNodeModel& omitted() {
    node_.add_input("");
    return *this;
  }
  OneNodeModel& output(const std::string& name, DType t) {
    node_.add_output(name);
    auto* vi = graph_.add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(t));
    return *this;
  }
  OnnxGraph graph() const {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(opset_);
    *m.mutable_graph() = graph_;
    m.mutable_graph()->set_name("one_node");
    *m.mutable_graph()->add_node() = node_;
    return OnnxGraph::from_model(m);
  }

 private:
  int opset_;
  onnx::NodeProto node_;
  onnx::GraphProto graph_;
};

}  // namespace dpl::test
