// What the deploy writers share: range look-ups with the original's clip_val semantics, the
// tensor order of the files, and number/text formatting (JSON, YAML, Python's float repr).
#pragma once
#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "deploy/deploy.h"

namespace dpl::deploy {

// Keys keep their insertion order (graph order), as the original's dicts.
using Json = nlohmann::ordered_json;

// The ranges one file is written from. A tensor's range is, in this order: its weight range
// (per channel), its activation range, or, for an initializer tensor calibration does not
// cover (a scalar PRelu slope, a constant input of an unweighted node), the min/max of its
// values.
class RangeTable {
 public:
  RangeTable(const DeployInput& in, std::string file);

  // Range of `t`, or nullopt when it has none and is not float32 (shape tensors, indices:
  // left out of the files). Throws naming the tensor, the file and `why` when a float32 (or
  // untyped) tensor has none.
  std::optional<ChannelRanges> get(const std::string& t, const std::string& why) const;
  // Same, but a range is required whatever the type.
  ChannelRanges need(const std::string& t, const std::string& why) const;
  // Per-tensor [min lo, max hi] of need(t).
  Range need_tensor(const std::string& t, const std::string& why) const;

  // Graph inputs, then every node output in node order, that have a range (get(): throws
  // for a float32 one without).
  const std::vector<std::string>& activations() const;
  // Tensors with a weight range and the weights tensor calibration covers (whose range
  // need() then requires), in the order nodes use them, then any other with a range, by name.
  std::vector<std::string> weights() const;

  const OnnxGraph& graph() const { return in_.graph; }
  const std::string& file() const { return file_; }

 private:
  std::optional<ChannelRanges> find(const std::string& t) const;
  const DeployInput& in_;
  std::string file_;
  mutable std::optional<std::vector<std::string>> acts_;  // activations(), once asked for
  std::set<std::string> calibrated_;  // weights weight_ranges() gives a range to
};

inline double min_of(const ChannelRanges& r) {
  double m = r.lo.at(0);
  for (float v : r.lo) m = std::min<double>(m, v);
  return m;
}
inline double max_of(const ChannelRanges& r) {
  double m = r.hi.at(0);
  for (float v : r.hi) m = std::max<double>(m, v);
  return m;
}

// Python's round() / numpy's round: to nearest, ties to even.
double round_half_even(double v);

// The asymmetric grid of `bits` bits (the platform's QuantSpec::bits) over r widened to hold 0,
// as the Rockchip and Atlas files write it: scale = (hi - lo) / (2^bits - 1), or
// `zero_range_scale` when hi == lo; zero point round_half_even(-lo / scale) in 0..2^bits - 1.
struct AsymmetricGrid {
  double scale;
  int64_t zero_point;
};
AsymmetricGrid asymmetric_grid(const Range& r, int bits, double zero_range_scale);

// The text of a JSON file: 4-space indent as the original's json.dump(indent=4), UTF-8,
// ending in a newline. Throws naming `file` when a name is not valid UTF-8.
std::string json_text(const Json& j, const std::string& file);
// The same tree as YAML in PyYAML's default block style (keys sorted, lists of scalars not
// indented under their key, `{}` / `[]` for empty ones); names are quoted where YAML needs it.
std::string yaml_text(const Json& j, const std::string& file);
// A double as Python's repr() writes it: the shortest digits that read back the same,
// fixed notation for exponents -4..15 ("0.0001", "1.0"), else "1e-05", "1.5e+16".
std::string py_float(double v);
// True when a name can stand on a line of a plain-text file (no whitespace or control
// characters, not empty).
bool plain_text_name(const std::string& name);

// The bits of activation / weight `t`: the QDQ model's precision plan (in.qdq), else the
// platform's. Tensors the QDQ model does not quantize get the plan's default.
int act_bits(const DeployInput& in, const std::string& t);
int weight_bits(const DeployInput& in, const std::string& t);

// Node input `i`, or "" when absent.
inline const std::string& input_or_empty(const onnx::NodeProto& n, int i) {
  static const std::string empty;
  return i < n.input_size() ? n.input(i) : empty;
}

}  // namespace dpl::deploy
