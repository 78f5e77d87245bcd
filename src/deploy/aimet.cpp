// aimet_encodings.json (**beyond**, --deploy_extra aimet): AIMET's encoding format 0.6.1, which
// Qualcomm's converters take as quantization overrides (qnn-onnx-converter / snpe-onnx-to-dlc
// --quantization_overrides). "activation_encodings" holds every activation (graph inputs and
// node outputs), "param_encodings" every weight the QDQ model quantizes (one entry per channel
// when per channel); each entry is {bitwidth, dtype "int", is_symmetric "True"/"False", min,
// max, offset, scale} for the grid the QDQ model simulates: real = (q + offset) * scale for
// q in 0..2^b-1, offset = -zero_point (asymmetric) or -2^(b-1) (symmetric), min = offset * scale
// (so offset = round(min / scale)), max = min + (2^b - 1) * scale (symmetric: (2^(b-1) - 1) *
// scale, the QDQ model's symmetric grid). b is each tensor's own bit width (the precision plan);
// quantizer_args gives the plan's defaults.
#include "deploy/backends.h"
#include "deploy/deploy_common.h"
#include "quant/quant_param.h"
#include "util/error.h"

namespace dpl::deploy {

namespace {

const char* py_bool(bool b) { return b ? "True" : "False"; }

Json encodings(const QuantParams& p) {
  const int bits = p.bits;
  Json list = Json::array();
  for (size_t c = 0; c < p.scale.size(); ++c) {
    const double scale = p.scale[c];
    const int64_t offset = p.symmetric ? -(int64_t{1} << (bits - 1)) : -int64_t{p.zero_point[c]};
    const int64_t top = p.symmetric ? (int64_t{1} << (bits - 1)) - 1 : offset + (int64_t{1} << bits) - 1;
    Json e = Json::object();
    e["bitwidth"] = bits;
    e["dtype"] = "int";
    e["is_symmetric"] = py_bool(p.symmetric);
    e["max"] = static_cast<double>(top) * scale;
    e["min"] = static_cast<double>(offset) * scale;
    e["offset"] = offset;
    e["scale"] = scale;
    list.push_back(std::move(e));
  }
  return list;
}

// AIMET's names for the calibration schemes closest to ours.
const char* quant_scheme(const std::string& algo) {
  if (algo == "minmax") return "post_training_tf";
  if (algo == "hist") return "post_training_percentile";
  return "post_training_tf_enhanced";  // mse: a clip search, as TF-enhanced
}

}  // namespace

std::vector<DeployFile> aimet_files(const DeployInput& in) {
  const std::string file = "aimet_encodings.json";
  DPL_CHECK(in.qdq != nullptr, "cannot write {}: it needs the QDQ model", file);
  RangeTable table(in, file);
  Json acts = Json::object(), params = Json::object();
  for (const auto& t : table.activations()) {
    const QdqPair* pair = in.qdq->pair(t);
    const QuantParams p = pair && !pair->weight
                              ? pair->params
                              : quant_params(in.qdq->precision.act(t), table.need_tensor(t, "an activation"));
    acts[t] = encodings(p);
  }
  for (const auto& pair : in.qdq->pairs)
    if (pair.weight) params[pair.tensor] = encodings(pair.params);
  const QuantSpec& w = in.qdq->precision.weight_default;
  Json args = Json::object();
  args["activation_bitwidth"] = in.qdq->precision.act_default.bits;
  args["dtype"] = "int";
  args["is_symmetric"] = py_bool(w.symmetric);
  args["param_bitwidth"] = w.bits;
  args["per_channel_quantization"] = py_bool(w.per_channel);
  args["quant_scheme"] = quant_scheme(in.act_algo);
  Json j = Json::object();
  j["version"] = "0.6.1";
  j["activation_encodings"] = std::move(acts);
  j["param_encodings"] = std::move(params);
  j["quantizer_args"] = std::move(args);
  return {{file, json_text(j, file)}};
}

}  // namespace dpl::deploy
