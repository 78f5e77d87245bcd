// The platform table of docs/spec.md 5 (the original tool's platform settings), in one place.
#include "quant/platform.h"

#include <algorithm>

#include "util/error.h"

namespace dpl {

namespace {

// Op types every "basic" platform quantizes ("Eltwise" is a Caffe name no ONNX node has;
// it is kept because the original lists it).
std::vector<std::string> basic_nodes() {
  return {"Relu", "Eltwise", "MaxPool", "Conv",   "Gemm", "ConvTranspose", "PRelu",  "AveragePool",
          "Concat", "Split", "Add",     "Mul",    "Abs",  "Reciprocal",    "Sigmoid"};
}

std::vector<std::string> plus(std::vector<std::string> v, const std::vector<std::string>& more) {
  for (const auto& s : more)
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  return v;
}

QuantSpec spec(bool symmetric, bool per_channel = false, bool log_scale = false, bool dynamic_sym = false) {
  QuantSpec s;
  s.bits = 8;
  s.symmetric = symmetric;
  s.per_channel = per_channel;
  s.log_scale = log_scale;
  s.dynamic_sym = dynamic_sym;
  return s;
}

constexpr bool kSym = true, kAsym = false, kPerChannel = true, kPerTensor = false, kLog2 = true;

std::vector<Platform> make_table() {
  std::vector<Platform> t;
  auto add = [&](std::string name, std::vector<std::string> nodes, QuantSpec w, QuantSpec a, bool quant_out,
                 bool deploy_weight, bool fuses_add_into_conv) {
    Platform p;
    p.name = std::move(name);
    p.quant_nodes = std::move(nodes);
    p.weight = w;
    p.act = a;
    p.quantize_network_output = quant_out;
    p.deploy_weight = deploy_weight;
    p.fuses_add_into_conv = fuses_add_into_conv;
    t.push_back(std::move(p));
  };
  // name, quant_nodes, weights, activations, quantize network output, deploy weight ranges,
  // fuses Add into Conv
  add("trt", {"Relu", "MaxPool", "Conv", "Gemm", "ConvTranspose", "PRelu", "AveragePool", "Add", "Sigmoid"},
      spec(kSym, kPerChannel), spec(kSym), false, false, true);
  add("stpu", plus(basic_nodes(), {"Clip", "HardSigmoid"}), spec(kSym, kPerTensor), spec(kSym), false, true, false);
  add("magicmind", {"Gemm", "Conv", "ConvTranspose", "MatMul"}, spec(kAsym, kPerChannel), spec(kAsym), false, false,
      false);
  add("rv", basic_nodes(), spec(kAsym, kPerTensor), spec(kAsym), true, true, false);
  add("atlas", {"Conv", "Gemm", "AveragePool"}, spec(kSym, kPerChannel), spec(kAsym), false, false, false);
  add("snpe", plus(basic_nodes(), {"Sigmoid"}), spec(kAsym, kPerTensor), spec(kAsym), true, false, false);
  add("ti", basic_nodes(), spec(kSym, kPerTensor), spec(kSym, kPerTensor, kLog2, /*dynamic_sym=*/true), false, false,
      false);
  add("imx", basic_nodes(), spec(kSym, kPerChannel, kLog2), spec(kSym, kPerTensor, kLog2), true, true, false);
  return t;
}

const std::vector<Platform>& table() {
  static const std::vector<Platform> t = make_table();
  return t;
}

}  // namespace

bool Platform::quantizes(const std::string& op_type) const {
  return std::find(quant_nodes.begin(), quant_nodes.end(), op_type) != quant_nodes.end();
}

const Platform& platform_by_name(const std::string& name) {
  for (const auto& p : table())
    if (p.name == name) return p;
  std::string valid;
  for (const auto& p : table()) valid += (valid.empty() ? "" : ", ") + p.name;
  fail("unknown deploy platform '{}' (valid: {})", name, valid);
}

std::vector<std::string> platform_names() {
  std::vector<std::string> r;
  for (const auto& p : table()) r.push_back(p.name);
  return r;
}

}  // namespace dpl
