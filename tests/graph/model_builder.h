// A few lines to build small ONNX models in tests:
//   ModelBuilder b(13);
//   b.input("x", {1, 3}).node("Relu", {"x"}, {"y"}).output("y");
//   OnnxGraph g = b.graph();
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

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
    auto* n = g().add_node();
    n->set_op_type(op);
    if (!name.empty()) n->set_name(name);
    for (const auto& s : ins) n->add_input(s);
    for (const auto& s : outs) n->add_output(s);
    last_ = n;
    return *this;
  }
  // Attributes of the last node.
  ModelBuilder& attr(const std::string& name, int64_t v) {
    auto* a = add_attr(name, onnx::AttributeProto::INT);
    a->set_i(v);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, float v) {
    auto* a = add_attr(name, onnx::AttributeProto::FLOAT);
    a->set_f(v);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, const std::vector<int64_t>& v) {
    auto* a = add_attr(name, onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, const std::vector<float>& v) {
    auto* a = add_attr(name, onnx::AttributeProto::FLOATS);
    for (auto x : v) a->add_floats(x);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, const std::string& v) {
    auto* a = add_attr(name, onnx::AttributeProto::STRING);
    a->set_s(v);
    return *this;
  }
  ModelBuilder& attr(const std::string& name, const Tensor& t) {
    auto* a = add_attr(name, onnx::AttributeProto::TENSOR);
    *a->mutable_t() = tensor_to_proto(t, "");
    return *this;
  }
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
  onnx::AttributeProto* add_attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
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
