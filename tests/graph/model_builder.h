// A few lines to build small ONNX models in tests:
//   ModelBuilder b(13);
//   b.input("x", {1, 3}).node("Relu", {"x"}, {"y"}).output("y");
//   OnnxGraph g = b.graph();
// Nodes are made by graph/node_builder.h, as in the project's own passes.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "graph/node_builder.h"
#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"

namespace dpl::test {

class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 13, int ir_version = 8) {
    model_.set_ir_version(ir_version);
    model_.set_producer_name("dpl-test");
    model_.add_opset_import()->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }
  // Dimensions < 0 are symbolic ("d<i>"); no shape at all with rank_known = false.
  ModelBuilder& input(const std::string& name, const Shape& shape, DType t = DType::F32, bool rank_known = true) {
    fill(*g().add_input(), name, shape, t, rank_known);
    return *this;
  }
  ModelBuilder& output(const std::string& name, DType t = DType::F32) {
    auto* v = g().add_output();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(t));
    return *this;
  }
  ModelBuilder& output(const std::string& name, const Shape& shape, DType t = DType::F32) {
    fill(*g().add_output(), name, shape, t, true);
    return *this;
  }
  ModelBuilder& init(const std::string& name, const Tensor& t) {
    *g().add_initializer() = tensor_to_proto(t, name);
    return *this;
  }
  ModelBuilder& node(const std::string& op, const std::vector<std::string>& ins, const std::vector<std::string>& outs,
                     const std::string& name = "") {
    last_ = g().add_node();
    *last_ = make_node(op, ins, outs, name);
    return *this;
  }
  // Attributes of the last node.
  ModelBuilder& attr(const std::string& name, int64_t v) { return set(name, v); }
  ModelBuilder& attr(const std::string& name, float v) { return set(name, v); }
  ModelBuilder& attr(const std::string& name, const std::vector<int64_t>& v) { return set(name, v); }
  ModelBuilder& attr(const std::string& name, const std::vector<float>& v) { return set(name, v); }
  ModelBuilder& attr(const std::string& name, const std::string& v) { return set(name, v); }
  ModelBuilder& attr(const std::string& name, const Tensor& t) { return set(name, tensor_to_proto(t, "")); }
  onnx::ModelProto& model() { return model_; }
  OnnxGraph graph() const { return OnnxGraph::from_model(model_); }

 private:
  onnx::GraphProto& g() { return *model_.mutable_graph(); }
  static void fill(onnx::ValueInfoProto& v, const std::string& name, const Shape& shape, DType t, bool rank_known) {
    v.set_name(name);
    auto* tt = v.mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(t));
    if (!rank_known) return;
    auto* s = tt->mutable_shape();
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] >= 0)
        s->add_dim()->set_dim_value(shape[i]);
      else
        s->add_dim()->set_dim_param("d" + std::to_string(i));
    }
  }
  template <class T>
  ModelBuilder& set(const std::string& name, const T& v) {
    set_attr(*last_, name, v);
    return *this;
  }
  onnx::ModelProto model_;
  onnx::NodeProto* last_ = nullptr;
};

// Deterministic pseudo-random floats in [lo, hi).
inline Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = 0.f, float hi = 1.f) {
  Tensor t(DType::F32, shape);
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  float* d = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    d[i] = lo + (hi - lo) * static_cast<float>((s >> 40) & 0xFFFFFF) / 16777216.f;
  }
  return t;
}

}  // namespace dpl::test
