// fold_batchnorm (see bn_fold.h): BatchNormalization folded into the Conv, ConvTranspose or
// Gemm before it, with the affine form of runtime/bn_affine.h computed in double.
#include "transform/bn_fold.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <optional>

#include "runtime/bn_affine.h"
#include "transform/graph_edit.h"
#include "util/error.h"

namespace dpl::transform {

namespace {

struct BnParams {
  std::vector<double> s, shift;  // y = x * s + shift per channel
};

// Why the BN at `bn_index` cannot be folded, or its parameters.
std::optional<std::string> check_bn(const OnnxGraph& g, int bn_index, BnParams& out) {
  const auto& bn = g.node(bn_index);
  if (attr_int(bn, "training_mode", 0) != 0) return "training mode";
  for (int k = 1; k < bn.output_size(); ++k)
    if (!bn.output(k).empty()) return "it has running-statistics outputs";
  if (bn.input_size() < 5) return "it lacks inputs";
  const int64_t channels = [&] {
    Tensor t = float_init(g, bn, 1);
    return t.defined() ? t.numel() : -1;
  }();
  std::vector<std::vector<double>> p;  // gamma, beta, mean, var (float values, exact in double)
  for (int k = 1; k <= 4; ++k) {
    Tensor t = float_init(g, bn, k);
    if (!t.defined()) return "its parameters are not float initializers";
    if (t.numel() != channels) return "its parameters differ in length";
    const std::vector<float> v = t.to_f32_vector();
    p.emplace_back(v.begin(), v.end());
  }
  const double eps = attr_float(bn, "epsilon", 1e-5f);
  BnAffine affine = bn_affine(p[0], p[1], p[2], p[3], eps);
  out.s = std::move(affine.scale);
  out.shift = std::move(affine.shift);
  return std::nullopt;
}

// Folds y = x * s + shift into the producer at `p`. Returns the reason when it cannot.
std::optional<std::string> fold_into(OnnxGraph& g, int p, const BnParams& bn) {
  const auto& node = g.node(p);
  const std::string& op = node.op_type();
  const int64_t channels = static_cast<int64_t>(bn.s.size());
  Tensor w = float_init(g, node, 1);
  if (!w.defined() || w.rank() < 2) return op + " weight is not a float initializer";
  const bool has_bias = node.input_size() > 2 && !node.input(2).empty();
  Tensor b = has_bias ? float_init(g, node, 2) : Tensor();
  if (has_bias && !b.defined()) return op + " bias is not a float initializer";

  w = w.clone();
  float* wd = w.data<float>();
  std::vector<double> bias(channels, 0.0);  // the producer's effective per-channel bias
  if (op == "Conv") {
    if (w.dim(0) != channels) return "Conv has " + std::to_string(w.dim(0)) + " output channels";
    if (has_bias && b.numel() != channels) return "Conv bias length differs";
    const int64_t per = w.numel() / channels;
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t k = 0; k < per; ++k) wd[c * per + k] = static_cast<float>(wd[c * per + k] * bn.s[c]);
  } else if (op == "ConvTranspose") {
    const int64_t group = attr_int(node, "group", 1);
    const int64_t out_g = w.dim(1), in_g = w.dim(0) / std::max<int64_t>(group, 1);
    if (out_g * group != channels) return "ConvTranspose has " + std::to_string(out_g * group) + " output channels";
    if (has_bias && b.numel() != channels) return "ConvTranspose bias length differs";
    const int64_t spatial = w.numel() / (w.dim(0) * out_g);
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t gi = c / out_g, j = c % out_g;
      for (int64_t r = gi * in_g; r < (gi + 1) * in_g; ++r)
        for (int64_t k = 0; k < spatial; ++k) {
          float& v = wd[(r * out_g + j) * spatial + k];
          v = static_cast<float>(v * bn.s[c]);
        }
    }
  } else {  // Gemm
    if (w.rank() != 2) return "Gemm weight is not 2-D";
    const bool trans_b = attr_int(node, "transB", 0) != 0;
    const int64_t m = trans_b ? w.dim(0) : w.dim(1), k_dim = trans_b ? w.dim(1) : w.dim(0);
    if (m != channels) return "Gemm has " + std::to_string(m) + " output columns";
    if (has_bias && !(b.numel() == 1 || (b.numel() == channels && (b.rank() == 1 || b.dim(0) == 1))))
      return "Gemm bias " + shape_str(b.shape()) + " is not per output column";
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t k = 0; k < k_dim; ++k) {
        float& v = trans_b ? wd[c * k_dim + k] : wd[k * channels + c];
        v = static_cast<float>(v * bn.s[c]);
      }
  }
  if (has_bias) {
    const double beta = op == "Gemm" ? attr_float(node, "beta", 1.f) : 1.0;
    const std::vector<float> bv = b.to_f32_vector();
    for (int64_t c = 0; c < channels; ++c) bias[c] = beta * bv[bv.size() == 1 ? 0 : c];
  }
  std::vector<float> nb(channels);
  for (int64_t c = 0; c < channels; ++c) nb[c] = static_cast<float>(bias[c] * bn.s[c] + bn.shift[c]);
  set_node_input_value(g, p, 1, w, "weight");
  set_node_input_value(g, p, 2, Tensor::from_vector<float>({channels}, nb), "bias");
  if (op == "Gemm") set_attr(g.mutable_node(p), "beta", 1.f);
  return std::nullopt;
}

void drop_value_info(OnnxGraph& g, const std::string& tensor) {
  auto* vi = g.graph().mutable_value_info();
  for (int i = vi->size() - 1; i >= 0; --i)
    if (vi->Get(i).name() == tensor) vi->DeleteSubrange(i, 1);
}

}  // namespace

BnFoldResult fold_batchnorm(OnnxGraph& g) {
  BnFoldResult r;
  std::vector<std::string> bns;
  for (const auto& n : g.graph().node())
    if (n.op_type() == "BatchNormalization") bns.push_back(n.name());
  for (const auto& name : bns) {
    const int bi = g.node_index(name);
    const std::string x = g.node(bi).input(0);
    const int p = g.producer(x);
    const std::string op = p >= 0 ? g.node(p).op_type() : "";
    if (op != "Conv" && op != "ConvTranspose" && op != "Gemm") {
      r.kept.push_back(name + ": " + (p >= 0 ? "follows " + op : "reads a graph input or initializer"));
      continue;
    }
    if (!single_consumer(g, x)) {
      r.kept.push_back(name + ": the " + op + " output '" + x + "' has other readers");
      continue;
    }
    BnParams params;
    auto why = check_bn(g, bi, params);
    if (!why) why = fold_into(g, p, params);
    if (why) {
      r.kept.push_back(name + ": " + *why);
      continue;
    }
    const auto bn = g.node(bi);  // copy: the node is removed below
    g.mutable_node(p).set_output(0, bn.output(0));
    drop_value_info(g, x);
    g.remove_node(bi);
    for (int k = 1; k <= 4; ++k) {
      const std::string& t = bn.input(k);
      if (g.consumers(t).empty() && !g.is_network_output(t)) g.del_initializer(t);
    }
    r.folded.push_back(name);
  }
  if (!r.folded.empty() || !r.kept.empty()) {
    spdlog::info(
        "BN folding: {} BatchNormalization node(s) folded into the Conv/ConvTranspose/Gemm before them, {} kept",
        r.folded.size(), r.kept.size());
    for (const auto& k : r.kept) spdlog::info("BN folding: kept {}", k);
  }
  return r;
}

}  // namespace dpl::transform
