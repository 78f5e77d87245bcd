// libFuzzer target: the QDQ and QOperator builders and every deploy writer on small fuzzed
// graphs with fuzzed ranges (docs/fuzzing.md). The bytes build a chain of the operators the
// platforms quantize (Conv, ConvTranspose, Gemm, MatMul, pools, Add/Mul/Concat, activations,
// Reshape/Transpose/Flatten, BatchNormalization, PRelu) with random weights, then give each
// tensor an activation range and each weight per-channel ranges that may be missing, NaN,
// infinite, reversed (lo > hi), zero-width or of the wrong channel count. Beyond "no crash,
// only dpl::Error", when the input graph passes onnx::checker the QDQ and QOP models must pass
// it too (their documented contract), every QuantizeLinear scale must be finite and positive,
// and every .json deploy file must parse.
#include <nlohmann/json.hpp>
#include <onnx/checker.h>

#include <cmath>
#include <string>
#include <vector>

#include "calib/ranges.h"
#include "deploy/deploy.h"
#include "fuzz_common.h"
#include "graph/model_builder.h"
#include "graph/weight_axes.h"
#include "optimizer/prepare.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "quant/qop_builder.h"

using dpl::Shape;
using dpl::Tensor;
using dpl::fuzz::ByteReader;

namespace {

struct Value {
  std::string name;
  Shape shape;  // [1, C, H, W] or [1, F]
};

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "finding: %s\n", what.c_str());
  std::abort();
}

class GraphMaker {
 public:
  explicit GraphMaker(ByteReader& in) : in_(in) {}

  dpl::OnnxGraph make() {
    const int64_t c = 1 + in_.pick(4), hw = 1 + in_.pick(5);
    b_.input("x", {1, c, hw, hw});
    values_.push_back({"x", {1, c, hw, hw}});
    const int nodes = 1 + in_.pick(8);
    for (int i = 0; i < nodes; ++i) add_node(i);
    b_.output(values_.back().name);
    if (values_.size() > 2 && in_.pick(3) == 0) b_.output(values_[1 + in_.pick(static_cast<int>(values_.size()) - 1)].name);
    return b_.graph();
  }
  std::vector<std::string> tensors() const {
    std::vector<std::string> r;
    for (const auto& v : values_) r.push_back(v.name);
    return r;
  }
  const std::vector<std::string>& node_names() const { return node_names_; }

 private:
  float weight_value() { return in_.pick(16) == 0 ? in_.any_float() : (static_cast<int>(in_.byte()) - 128) / 32.f; }
  std::string init(const std::string& name, const Shape& s) {
    Tensor t(dpl::DType::F32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = weight_value();
    b_.init(name, t);
    return name;
  }
  std::string node(const std::string& op, const std::vector<std::string>& ins, const Shape& out_shape) {
    const std::string name = op + "_" + std::to_string(node_names_.size());
    const std::string out = name + "_out";
    b_.node(op, ins, {out}, name);
    node_names_.push_back(name);
    values_.push_back({out, out_shape});
    return name;
  }
  const Value& pick_value(bool four_d) {
    std::vector<const Value*> c;
    for (const auto& v : values_)
      if ((v.shape.size() == 4) == four_d) c.push_back(&v);
    if (c.empty()) return values_.back();
    return *c[in_.pick(static_cast<int>(c.size()))];
  }
  void add_node(int i) {
    const std::string p = "w" + std::to_string(i);
    const Value v = values_.back().shape.size() == 4 || in_.pick(2) ? pick_value(true) : values_.back();
    const bool four = v.shape.size() == 4;
    const int64_t c = v.shape[1];
    switch (in_.pick(12)) {
      case 0:
        if (four) {  // Conv, optionally depthwise, with or without bias
          const int64_t k = in_.pick(2) ? 3 : 1, group = in_.pick(3) == 0 ? c : 1;
          const int64_t cout = group == c ? c : 1 + in_.pick(4);
          std::vector<std::string> ins{v.name, init(p, {cout, c / group, k, k})};
          if (in_.pick(2)) ins.push_back(init(p + "_b", {cout}));
          node("Conv", ins, {1, cout, v.shape[2], v.shape[3]});
          b_.attr("kernel_shape", std::vector<int64_t>{k, k}).attr("group", group);
          b_.attr("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
          return;
        }
        break;
      case 1:
        if (four) {  // ConvTranspose, stride 1, keeps H and W with k = 1
          const int64_t cout = 1 + in_.pick(3);
          node("ConvTranspose", {v.name, init(p, {c, cout, 1, 1}), init(p + "_b", {cout})},
               {1, cout, v.shape[2], v.shape[3]});
          return;
        }
        break;
      case 2: {
        static const char* act[] = {"Relu", "Sigmoid", "LeakyRelu", "HardSigmoid", "Tanh", "Identity"};
        node(act[in_.pick(6)], {v.name}, v.shape);
        return;
      }
      case 3: {
        const Value& w = pick_value(four);
        const bool same = w.shape == v.shape;
        const std::string other = same ? w.name : init(p, v.shape);
        node(in_.pick(2) ? "Add" : "Mul", {v.name, other}, v.shape);
        return;
      }
      case 4:
        if (four) {
          static const char* pools[] = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"};
          const int k = in_.pick(4);
          const bool global = k >= 2;
          node(pools[k], {v.name}, global ? Shape{1, c, 1, 1} : v.shape);
          if (!global) b_.attr("kernel_shape", std::vector<int64_t>{1, 1});
          return;
        }
        break;
      case 5:
        if (four) {
          node("Concat", {v.name, values_.back().shape == v.shape ? values_.back().name : v.name},
               {1, 2 * c, v.shape[2], v.shape[3]});
          b_.attr("axis", int64_t{1});
          return;
        }
        break;
      case 6:
        if (four) {
          node("BatchNormalization", {v.name, init(p + "_s", {c}), init(p + "_b", {c}), init(p + "_m", {c}),
                                      init(p + "_v", {c})},
               v.shape);
          return;
        }
        break;
      case 7:
        node("PRelu", {v.name, init(p, four ? Shape{c, 1, 1} : Shape{v.shape[1]})}, v.shape);
        return;
      case 8:
        if (four) {
          node("Flatten", {v.name}, {1, c * v.shape[2] * v.shape[3]});
          return;
        }
        break;
      case 9:
        if (!four) {
          const int64_t fout = 1 + in_.pick(6);
          if (in_.pick(2)) {
            node("Gemm", {v.name, init(p, {fout, c}), init(p + "_b", {fout})}, {1, fout});
            b_.attr("transB", int64_t{1});
          } else {
            node("MatMul", {v.name, init(p, {c, fout})}, {1, fout});
          }
          return;
        }
        break;
      case 10:
        if (four) {
          node("Transpose", {v.name}, {1, c, v.shape[3], v.shape[2]});
          b_.attr("perm", std::vector<int64_t>{0, 1, 3, 2});
          return;
        }
        break;
      case 11: {
        Tensor s(dpl::DType::I64, {static_cast<int64_t>(v.shape.size())});
        for (size_t d = 0; d < v.shape.size(); ++d) s.data<int64_t>()[d] = v.shape[d];
        b_.init(p, s);
        node("Reshape", {v.name, p}, v.shape);
        return;
      }
    }
    node("Relu", {v.name}, v.shape);
  }

  ByteReader& in_;
  dpl::test::ModelBuilder b_{13};
  std::vector<Value> values_;
  std::vector<std::string> node_names_;
};

float range_end(ByteReader& in) {
  switch (in.pick(8)) {
    case 0: return in.any_float();  // NaN, Inf, denormals, huge
    case 1: return 0.f;
    default: return (static_cast<int>(in.byte()) - 128) / 16.f;
  }
}

dpl::ActRanges act_ranges(ByteReader& in, const std::vector<std::string>& tensors) {
  dpl::ActRanges r;
  for (const auto& t : tensors) {
    if (in.pick(16) == 0) continue;  // missing
    float a = range_end(in), b = range_end(in);
    if (in.pick(4) != 0 && a > b) std::swap(a, b);  // usually ordered; sometimes lo > hi
    r[t] = {a, b};
  }
  return r;
}

dpl::WeightRanges weight_ranges(ByteReader& in, const dpl::OnnxGraph& g) {
  dpl::WeightRanges r;
  for (const auto& init : g.graph().initializer()) {
    if (in.pick(16) == 0) continue;
    const Tensor w = g.get_initializer(init.name());
    if (w.dtype() != dpl::DType::F32) continue;
    if (in.pick(4) != 0) {
      r[init.name()] = dpl::channel_ranges(w, w.shape().empty() ? -1 : 0);
      continue;
    }
    dpl::ChannelRanges cr;
    const int n = in.pick(5);
    for (int c = 0; c < n; ++c) {
      cr.lo.push_back(range_end(in));
      cr.hi.push_back(range_end(in));
    }
    if (in.pick(8) == 0 && !cr.hi.empty()) cr.hi.pop_back();
    r[init.name()] = cr;
  }
  return r;
}

bool passes_checker(const onnx::ModelProto& m) {
  try {
    onnx::checker::check_model(m);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void check_output(const dpl::OnnxGraph& g, const char* what, bool must_pass) {
  if (must_pass) {
    try {
      onnx::checker::check_model(g.model());
    } catch (const std::exception& e) {
      finding(std::string(what) + " fails onnx::checker while its input passes: " + e.what());
    }
  }
  for (const auto& n : g.graph().node()) {
    if (n.op_type() != "QuantizeLinear" || n.input_size() < 2 || !g.is_initializer(n.input(1))) continue;
    const Tensor s = g.get_initializer(n.input(1));
    for (int64_t i = 0; i < s.numel(); ++i)
      if (!(std::isfinite(s.data<float>()[i]) && s.data<float>()[i] > 0))
        finding(std::string(what) + ": scale " + n.input(1) + " is not finite and positive");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dpl::fuzz::quiet_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  dpl::fuzz::run_guarded([&] {
    GraphMaker maker(in);
    dpl::OnnxGraph g = maker.make();
    dpl::prepare_model(g, 13, false);
    const bool valid = passes_checker(g.model());
    const auto names = dpl::platform_names();
    const dpl::Platform& platform = dpl::platform_by_name(names[in.pick(static_cast<int>(names.size()))]);
    const dpl::ActRanges act = act_ranges(in, maker.tensors());
    const dpl::WeightRanges weight = weight_ranges(in, g);
    dpl::QdqOptions opts;
    opts.quiet = true;
    opts.original_relu_type_inputs = in.pick(2);
    if (!maker.node_names().empty() && in.pick(4) == 0)
      opts.skip_layers.insert(maker.node_names()[in.pick(static_cast<int>(maker.node_names().size()))]);
    const dpl::QdqModel qdq = dpl::build_qdq(g, platform, act, weight, opts);
    check_output(qdq.graph, "QDQ model", valid);
    if (in.pick(2)) {
      const dpl::QopModel qop = dpl::build_qop(g, qdq, platform, act, opts);
      check_output(qop.graph, "QOP model", valid);
    }
    dpl::DeployInput di{g, platform, act, weight, &qdq, static_cast<bool>(in.pick(2)), "minmax"};
    std::vector<dpl::DeployFile> files = dpl::platform_deploy_files(di);
    for (const auto& extra : dpl::deploy_extra_names())
      for (auto& f : dpl::extra_deploy_files(di, extra)) files.push_back(std::move(f));
    for (const auto& f : files) {
      if (f.name.size() < 5 || f.name.substr(f.name.size() - 5) != ".json") continue;
      if (!nlohmann::json::accept(f.content)) finding(f.name + " is not valid JSON");
    }
  });
  return 0;
}
