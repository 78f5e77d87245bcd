// OpTester, after ONNX Runtime's: build a one-node model, run it through a Session and
// compare with expected values in a few lines.
//
//   OpTester t("Relu");
//   t.input<float>("X", {2}, {-1.f, 2.f});
//   t.output<float>("Y", {2}, {0.f, 2.f});
//   t.run();
#pragma once
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "runtime/session.h"
#include "tensor_compare.h"

namespace dpl::test {

class OpTester {
 public:
  explicit OpTester(std::string op_type, int opset = 13) : opset_(opset) {
    node_.set_op_type(std::move(op_type));
    node_.set_name("node");
  }
  OpTester& attr(const std::string& name, int64_t v) { return add_attr(name, onnx::AttributeProto::INT).set_i(v), *this; }
  OpTester& attr(const std::string& name, float v) { return add_attr(name, onnx::AttributeProto::FLOAT).set_f(v), *this; }
  OpTester& attr(const std::string& name, const std::string& v) {
    return add_attr(name, onnx::AttributeProto::STRING).set_s(v), *this;
  }
  OpTester& attr(const std::string& name, const std::vector<int64_t>& v) {
    auto& a = add_attr(name, onnx::AttributeProto::INTS);
    for (auto x : v) a.add_ints(x);
    return *this;
  }
  OpTester& attr(const std::string& name, const std::vector<float>& v) {
    auto& a = add_attr(name, onnx::AttributeProto::FLOATS);
    for (auto x : v) a.add_floats(x);
    return *this;
  }
  // An input fed at run time; constant=true makes it an initializer instead.
  template <typename T>
  OpTester& input(const std::string& name, Shape shape, std::vector<T> values, bool constant = false) {
    node_.add_input(name);
    Tensor t = Tensor::from_vector<T>(std::move(shape), values);
    if (constant)
      inits_.push_back(tensor_to_proto(t, name));
    else
      feeds_[name] = t;
    return *this;
  }
  OpTester& omitted_input() { return node_.add_input(""), *this; }
  template <typename T>
  OpTester& output(const std::string& name, Shape shape, std::vector<T> values) {
    node_.add_output(name);
    expected_.emplace_back(name, Tensor::from_vector<T>(std::move(shape), values));
    return *this;
  }
  OpTester& tolerance(double rtol, double atol) { return rtol_ = rtol, atol_ = atol, *this; }

  // Runs and compares every output; failures are reported with the output's name.
  void run() {
    TensorMap got = run_outputs();
    for (auto& [name, want] : expected_) {
      SCOPED_TRACE("output " + name);
      expect_tensor_near(got.at(name), want, rtol_, atol_);
    }
  }
  TensorMap run_outputs() {
    onnx::ModelProto m;
    m.set_ir_version(8);
    auto* op = m.add_opset_import();
    op->set_version(opset_);
    auto* g = m.mutable_graph();
    g->set_name("op_test");
    *g->add_node() = node_;
    for (auto& [name, t] : feeds_) {
      auto* vi = g->add_input();
      vi->set_name(name);
      auto* tt = vi->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(static_cast<int>(t.dtype()));
      for (auto d : t.shape()) tt->mutable_shape()->add_dim()->set_dim_value(d);
    }
    for (auto& p : inits_) *g->add_initializer() = p;
    for (auto& [name, t] : expected_) {
      auto* vi = g->add_output();
      vi->set_name(name);
      vi->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(t.dtype()));
    }
    OnnxGraph graph = OnnxGraph::from_model(m);
    Session s(graph);
    return s.run(feeds_);
  }

 private:
  onnx::AttributeProto& add_attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = node_.add_attribute();
    a->set_name(name);
    a->set_type(type);
    return *a;
  }
  int opset_;
  onnx::NodeProto node_;
  TensorMap feeds_;
  std::vector<onnx::TensorProto> inits_;
  std::vector<std::pair<std::string, Tensor>> expected_;
  double rtol_ = 1e-5, atol_ = 1e-6;
};

}  // namespace dpl::test
