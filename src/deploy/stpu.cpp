// stpu_minmax.json (the original's deploy_stpu.py), built in its order:
//  1. "<node>_weights": {"min": -a, "max": a}, a = max(|min lo|, max hi) of input 1 of every
//     weighted node (Conv, Gemm, ConvTranspose, PRelu, BatchNormalization);
//  2. every graph input and node output: {"min": -a, "max": a}, a = max(|lo|, hi);
//  3. Relu and Clip are merged into their producer: their input takes their output's entry;
//  4. --stpu_wg: Conv 3x3, stride 1, group 1 (dilation 1) runs as Winograd F(2x2, 3x3): it gets
//     "layer_<node>": {"wg": true} and its weight range becomes that of G w G^T per kernel,
//     G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]];
//  5. "emin" (the smallest float exponent the accumulator keeps) on the outputs of Conv,
//     ConvTranspose, Gemm (find_conv_emin) and of Resize/Upsample (find_interp_emin);
//  6. "<node>_bias": {"alpha": wa * ia, "zero_point": 0} for Conv/ConvTranspose/Gemm with a
//     bias, wa and ia the steps of the weight and input entries on their symmetric grids
//     (254 levels at 8 bits; 2^b - 2 at b bits of the precision plan).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "deploy/backends.h"
#include "deploy/deploy_common.h"
#include "graph/weight_axes.h"
#include "util/error.h"
#include "graph/node_attrs.h"
#include "quant/quant_param.h"

namespace dpl::deploy {

namespace {

Json sym_entry(double abs_max) {
  Json e = Json::object();
  e["min"] = -abs_max;
  e["max"] = abs_max;
  return e;
}

// The biased float32 exponent e with 2^(e-127) <= v < 2^(e-126), clamped to 1..254; 0 for 0
// (the original's find_e).
int find_e(double v) {
  if (std::fabs(v) == 0) return 0;
  for (int e = 1; e < 254; ++e) {
    const double lo = std::ldexp(1.0, e - 127);
    if (v >= lo && v < 2 * lo) return e;
  }
  if (v < std::ldexp(1.0, -126)) return 1;
  return 254;
}

// Conv 3x3, stride 1, group 1 with a constant 4-D weight: the layers STPU runs as Winograd.
// kernel_shape and strides default as ONNX says (the original needs both written out).
bool winograd_conv(const OnnxGraph& g, const onnx::NodeProto& n) {
  if (n.op_type() != "Conv" || n.input_size() < 2 || attr_int(n, "group", 1) != 1) return false;
  if (!g.is_initializer(n.input(1)) || g.value_type(n.input(1)) != DType::F32) return false;
  auto ws = g.tensor_shape(n.input(1));
  if (!ws || ws->size() != 4) return false;
  std::vector<int64_t> k = attr_ints(n, "kernel_shape"), s = attr_ints(n, "strides"), d = attr_ints(n, "dilations");
  if (k.empty()) k = {(*ws)[2], (*ws)[3]};
  if (s.empty()) s = {1, 1};
  if (d.empty()) d = {1, 1};
  return k == std::vector<int64_t>{3, 3} && s == std::vector<int64_t>{1, 1} && d == std::vector<int64_t>{1, 1};
}

// max(0, max of G w G^T) and min(0, min of it) over all kernels, in float32 as the original.
std::pair<double, double> winograd_range(const Tensor& w) {
  static const float G[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
  const float* d = w.data<float>();
  const int64_t kernels = w.dim(0) * w.dim(1);
  double vmax = 0, vmin = 0;
  for (int64_t k = 0; k < kernels; ++k) {
    const float* ker = d + k * 9;
    float gk[4][3];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 3; ++j) gk[i][j] = G[i][0] * ker[j] + G[i][1] * ker[3 + j] + G[i][2] * ker[6 + j];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        const float v = gk[i][0] * G[j][0] + gk[i][1] * G[j][1] + gk[i][2] * G[j][2];
        vmax = std::max<double>(vmax, v);
        vmin = std::min<double>(vmin, v);
      }
  }
  return {vmax, vmin};
}

class StpuWriter {
 public:
  StpuWriter(const DeployInput& in, const std::string& file) : in_(in), table_(in, file) {}

  Json build() {
    const auto& nodes = in_.graph.graph().node();
    for (const auto& n : nodes) quant_weight(n);
    for (const auto& t : table_.activations()) {
      const Range r = table_.need_tensor(t, "an activation");
      p_[t] = sym_entry(std::max(std::fabs(static_cast<double>(r.lo)), static_cast<double>(r.hi)));
    }
    for (const auto& n : nodes)
      if ((n.op_type() == "Relu" || n.op_type() == "Clip") && n.input_size() > 0 && p_.contains(n.output(0)))
        p_[n.input(0)] = p_[n.output(0)];
    if (in_.stpu_wg)
      for (const auto& n : nodes) winograd(n);
    for (const auto& n : nodes) emin(n);
    for (const auto& n : nodes) bias(n);
    return std::move(p_);
  }

 private:
  void quant_weight(const onnx::NodeProto& n) {
    if (!op_has_weight(n.op_type()) || input_or_empty(n, 1).empty()) return;
    const ChannelRanges r = table_.need(n.input(1), "weight of node '" + n.name() + "'");
    p_[n.name() + "_weights"] = sym_entry(std::max(std::fabs(min_of(r)), max_of(r)));
  }

  void winograd(const onnx::NodeProto& n) {
    if (!winograd_conv(in_.graph, n) || p_.contains("layer_" + n.name())) return;
    Json flag = Json::object();
    flag["wg"] = true;
    p_["layer_" + n.name()] = std::move(flag);
    auto [vmax, vmin] = winograd_range(in_.graph.get_initializer(n.input(1)));
    const double a = std::max(vmax, -vmin);
    Json& w = p_[n.name() + "_weights"];
    w["max"] = a;
    w["min"] = -a;
  }

  // "max" of an entry that must exist (an input or output of the node).
  double vmax(const std::string& t, const onnx::NodeProto& n) {
    DPL_CHECK(p_.contains(t), "cannot write stpu_minmax.json: no range for tensor '{}' (used by node '{}')", t,
              n.name());
    return p_[t]["max"].get<double>();
  }

  void emin(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (n.output_size() == 0 || !p_.contains(n.output(0))) return;
    Json& out = p_[n.output(0)];
    if (op == "Upsample" || op == "DynamicUpsample" || op == "Resize") {
      out["emin"] = find_e(out["max"].get<double>()) - (22 - 2);
      return;
    }
    if (op != "Conv" && op != "ConvTranspose" && op != "Gemm") return;
    if (input_or_empty(n, 1).empty() || !p_.contains(n.name() + "_weights")) return;
    // Accumulated terms: weight elements per output (Conv), the whole input (Gemm), as the original.
    auto shape = in_.graph.tensor_shape(op == "Gemm" ? n.input(0) : n.input(1));
    double count = 1;
    bool known = shape && !shape->empty();
    if (known)
      for (size_t i = op == "Gemm" ? 0 : 1; i < shape->size(); ++i) {
        known &= (*shape)[i] > 0;
        count *= static_cast<double>((*shape)[i]);
      }
    if (!known) {
      spdlog::warn("stpu_minmax.json: the shape of '{}' is not known; no emin for node '{}'",
                   op == "Gemm" ? n.input(0) : n.input(1), n.name());
      return;
    }
    const double i_vmax = vmax(n.input(0), n), o_vmax = out["max"].get<double>();
    const double w_vmax = p_[n.name() + "_weights"]["max"].get<double>();
    const double v = std::max(std::sqrt(count) * i_vmax * w_vmax, o_vmax);
    p_[n.output(0)]["emin"] = find_e(v) - (12 - 2);
  }

  void bias(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if ((op != "Conv" && op != "ConvTranspose" && op != "Gemm") || input_or_empty(n, 2).empty()) return;
    if (!p_.contains(n.name() + "_weights")) return;
    const Json& w = p_[n.name() + "_weights"];
    const double i_max = vmax(n.input(0), n), i_min = p_[n.input(0)]["min"].get<double>();
    // 254 = 2 * 127 levels at 8 bits: the symmetric grid of each tensor's bits.
    const double walpha = (w["max"].get<double>() - w["min"].get<double>()) / (2 * signed_max_code(weight_bits(in_, n.input(1))));
    const double ialpha = (i_max - i_min) / (2 * signed_max_code(act_bits(in_, n.input(0))));
    Json e = Json::object();
    e["alpha"] = walpha * ialpha;
    e["zero_point"] = 0;
    p_[n.name() + "_bias"] = std::move(e);
  }

  const DeployInput& in_;
  RangeTable table_;
  Json p_ = Json::object();
};

}  // namespace

std::vector<DeployFile> stpu_files(const DeployInput& in) {
  const std::string file = "stpu_minmax.json";
  return {{file, json_text(StpuWriter(in, file).build(), file)}};
}

}  // namespace dpl::deploy
