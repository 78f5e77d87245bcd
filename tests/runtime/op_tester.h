// OpTester, after ONNX Runtime's: build a one-node model, run it through a Session and
// compare with expected values in a few lines.
//
//   OpTester t("Relu");
//   t.input<float>("X", {2}, {-1.f, 2.f});
//   t.output<float>("Y", {2}, {0.f, 2.f});
//   t.run();
//
// check_gradient() checks the op's backward pass against central differences:
//
//   OpTester t("Tanh");
//   t.input<float>("X", {2, 3}, {-1.5f, -0.2f, 0.1f, 0.4f, 1.f, 2.f});
//   t.output("Y");
//   t.check_gradient();
#pragma once
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "runtime/node_convert.h"
#include "runtime/op_registry.h"
#include "runtime/session.h"
#include "tensor_compare.h"

namespace dpl::test {

// How OpTester::check_gradient compares. The step suits float32 forward passes: smaller
// ones drown the difference in rounding, larger ones in the curvature. Inputs must lie
// further than `step` from any kink of the op (Relu's 0), which the caller's values ensure.
struct GradientCheck {
  double step = 1e-2;
  double rtol = 1e-2, atol = 1e-3;  // |backward - difference| <= atol + rtol * max(|both|)
  uint32_t seed = 1;                // of the random dL/dy
  std::vector<std::string> wrt;     // inputs to differentiate; empty: every float32 input
};

struct GradientCheckResult {
  bool ok = true;
  std::string report;  // one line per failing input
};

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
      inits_.emplace_back(name, t);
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
  // An output without expected values (check_gradient needs only its name).
  OpTester& output(const std::string& name) { return node_.add_output(name), *this; }
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
    for (auto& [name, t] : inits_) *g->add_initializer() = tensor_to_proto(t, name);
    for (auto& [name, t] : expected_) {
      auto* vi = g->add_output();
      vi->set_name(name);
      vi->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(t.dtype()));
    }
    OnnxGraph graph = OnnxGraph::from_model(m);
    Session s(graph);
    return s.run(feeds_);
  }

  // Runs the op's forward, then its backward with a random dL/dy, and compares each wanted
  // dL/dx with central differences of L = sum(dL/dy * y), computed in double around the
  // float inputs. Not ok when the op has no backward or any element is off.
  GradientCheckResult gradient_check(const GradientCheck& o = {}) {
    GradientCheckResult r;
    auto bad = [&r](const std::string& line) { r.ok = false, r.report += line + "\n"; };
    const int n_in = node_.input_size();
    std::vector<Tensor> x(n_in);
    for (int i = 0; i < n_in; ++i)
      if (!node_.input(i).empty()) x[i] = value_of(node_.input(i)).clone();
    Kernel base = kernel(x);
    if (!base.op->has_backward()) {
      bad(node_.op_type() + " reports no backward pass");
      return r;
    }
    const std::vector<Tensor> y = base.forward(x);
    std::mt19937 rng(o.seed);
    std::uniform_real_distribution<float> unit(-1.f, 1.f);
    std::vector<Tensor> dy(y.size());
    for (size_t k = 0; k < y.size(); ++k) {
      if (y[k].dtype() != DType::F32) continue;
      dy[k] = Tensor(DType::F32, y[k].shape());
      for (int64_t e = 0; e < dy[k].numel(); ++e) dy[k].data<float>()[e] = unit(rng);
    }
    GradArgs args;
    for (int i = 0; i < n_in; ++i) {
      args.inputs.push_back(x[i].defined() ? &x[i] : nullptr);
      const bool listed = o.wrt.empty() || std::count(o.wrt.begin(), o.wrt.end(), node_.input(i));
      args.wants.push_back(x[i].defined() && x[i].dtype() == DType::F32 && listed);
    }
    for (size_t k = 0; k < y.size(); ++k) {
      args.outputs.push_back(&y[k]);
      args.grad_outputs.push_back(dy[k].defined() ? &dy[k] : nullptr);
    }
    if (std::none_of(args.wants.begin(), args.wants.end(), [](bool w) { return w; })) {
      bad("no float32 input to differentiate");
      return r;
    }
    std::vector<Tensor> grads(n_in);
    args.grad_inputs = grads;
    OpContext ctx;
    try {
      base.op->backward(ctx, args);
    } catch (const Error& e) {
      bad(node_.op_type() + " backward failed: " + e.what());
      return r;
    }
    // L at x with element j of input i set to v.
    auto loss = [&](int i, int64_t j, float v) {
      std::vector<Tensor> xv = x;
      xv[i] = x[i].clone();
      xv[i].data<float>()[j] = v;
      const bool constant = !feeds_.count(node_.input(i));
      const std::vector<Tensor> yv = constant ? kernel(xv).forward(xv) : base.forward(xv);
      double l = 0;
      for (size_t k = 0; k < yv.size(); ++k)
        for (int64_t e = 0; dy[k].defined() && e < yv[k].numel(); ++e)
          l += double(dy[k].data<float>()[e]) * double(yv[k].data<float>()[e]);
      return l;
    };
    for (int i = 0; i < n_in; ++i) {
      if (!args.wants[i]) continue;
      const std::string& name = node_.input(i);
      if (!grads[i].defined() || grads[i].shape() != x[i].shape() || grads[i].dtype() != DType::F32) {
        bad("input '" + name + "': backward gave no float32 gradient of shape " + shape_str(x[i].shape()));
        continue;
      }
      int64_t wrong = 0;
      double worst = 0;
      std::string worst_line;
      for (int64_t j = 0; j < x[i].numel(); ++j) {
        const float x0 = x[i].data<float>()[j];
        const float xp = static_cast<float>(x0 + o.step), xm = static_cast<float>(x0 - o.step);
        const double diff = (loss(i, j, xp) - loss(i, j, xm)) / (double(xp) - double(xm));
        const double back = grads[i].data<float>()[j];
        const double err = std::fabs(back - diff) / (o.atol + o.rtol * std::max(std::fabs(back), std::fabs(diff)));
        if (err <= 1) continue;
        ++wrong;
        if (err > worst)
          worst = err, worst_line = fmt::format("{}[{}] = {}: backward {}, central difference {}", name, j, x0, back, diff);
      }
      if (wrong)
        bad(fmt::format("input '{}': {} of {} elements off; worst {}", name, wrong, x[i].numel(), worst_line));
    }
    return r;
  }
  // gradient_check as one gtest failure listing what is off.
  void check_gradient(const GradientCheck& o = {}) {
    const GradientCheckResult r = gradient_check(o);
    EXPECT_TRUE(r.ok) << node_.op_type() << " gradient check:\n" << r.report;
  }

 private:
  onnx::AttributeProto& add_attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = node_.add_attribute();
    a->set_name(name);
    a->set_type(type);
    return *a;
  }
  // The node's kernel, initialised with `x` as its constant inputs (kernels may pack them).
  struct Kernel {
    NodeDesc desc;
    std::unique_ptr<Op> op;
    std::vector<Tensor> forward(const std::vector<Tensor>& x) {
      std::vector<const Tensor*> in;
      for (const auto& t : x) in.push_back(t.defined() ? &t : nullptr);
      std::vector<Tensor> out(desc.outputs.size());
      OpContext ctx;
      op->forward(ctx, in, out);
      return out;
    }
  };
  Kernel kernel(const std::vector<Tensor>& x) const {
    Kernel k;
    k.desc = node_desc_from_proto(node_, opset_);
    k.desc.own_inputs = k.desc.inputs.size();
    for (size_t i = 0; i < x.size(); ++i)
      k.desc.const_inputs.push_back(x[i].defined() && !feeds_.count(node_.input(i)) ? &x[i] : nullptr);
    k.op = OpRegistry::instance().create(k.desc.op_type);
    k.op->init(k.desc);
    return k;
  }
  const Tensor& value_of(const std::string& name) const {
    if (feeds_.count(name)) return feeds_.at(name);
    for (const auto& [n, t] : inits_)
      if (n == name) return t;
    throw std::out_of_range("no input named " + name);
  }

  int opset_;
  onnx::NodeProto node_;
  TensorMap feeds_;
  std::vector<std::pair<std::string, Tensor>> inits_;
  std::vector<std::pair<std::string, Tensor>> expected_;
  double rtol_ = 1e-5, atol_ = 1e-6;
};

}  // namespace dpl::test
