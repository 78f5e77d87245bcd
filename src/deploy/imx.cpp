// imx_scale.json (the original's deploy_imx.py): {"blob_range": {t: [scale, ...]}} with
// power-of-two scales, 2^round(log2(max(|lo|, |hi|) / qmax)), qmax = 2^(b-1) - 1 (127 at the
// default 8 bits; b each tensor's bits in the precision plan; a zero range counts as scale 1):
// one per activation, one per output channel for each weight; bias tensors are left out (the
// back end derives their scale from input and weight scales).
#include <cmath>
#include <set>

#include "deploy/backends.h"
#include "deploy/range_blob.h"
#include "quant/quant_param.h"

namespace dpl::deploy {

namespace {

// Bias inputs: input 2 of Conv, ConvTranspose, Gemm and BatchNormalization (its B), and, as
// the original decides by name, any tensor whose name ends in ".bias".
std::set<std::string> bias_tensors(const OnnxGraph& g) {
  static const std::set<std::string> with_bias{"Conv", "ConvTranspose", "Gemm", "BatchNormalization"};
  std::set<std::string> b;
  for (const auto& n : g.graph().node())
    if (with_bias.count(n.op_type()) && n.input_size() > 2 && !n.input(2).empty()) b.insert(n.input(2));
  return b;
}

bool named_bias(const std::string& t) { return t.size() >= 5 && t.compare(t.size() - 5, 5, ".bias") == 0; }

Json pow2_scales(const ChannelRanges& r, int bits) {
  const double qmax = signed_max_code(bits);
  Json s = Json::array();
  for (size_t c = 0; c < r.lo.size(); ++c) {
    double scale = std::max(std::fabs(static_cast<double>(r.lo[c])), std::fabs(static_cast<double>(r.hi[c]))) / qmax;
    if (scale == 0.0) scale = 1.0;
    s.push_back(std::exp2(round_half_even(std::log2(scale))));
  }
  return s;
}

}  // namespace

std::vector<DeployFile> imx_files(const DeployInput& in) {
  const std::string file = "imx_scale.json";
  RangeTable table(in, file);
  const std::set<std::string> bias = bias_tensors(in.graph);
  Json blob = Json::object();
  for (const auto& t : table.activations()) {
    if (named_bias(t)) continue;
    const Range r = table.need_tensor(t, "an activation");
    blob[t] = pow2_scales(ChannelRanges{{r.lo}, {r.hi}}, act_bits(in, t));
  }
  if (in.platform.deploy_weight)
    for (const auto& t : table.weights()) {
      if (bias.count(t) || named_bias(t)) continue;
      blob[t] = pow2_scales(table.need(t, "a weight"), weight_bits(in, t));
    }
  return {{file, blob_range_text(std::move(blob), file)}};
}

}  // namespace dpl::deploy
