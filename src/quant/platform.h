// The eight back ends' quantization settings (docs/spec.md 5; the original's
// platform_settings), as data in one place: every rule that differs between back ends reads a
// field here, never the platform's name.
#pragma once
#include <string>
#include <vector>

namespace dpl {

struct QuantSpec {
  int bits = 8;
  bool symmetric = true;
  bool per_channel = false;
  bool log_scale = false;    // power-of-two scales
  bool dynamic_sym = false;  // symmetric unless the range starts at 0 (then asymmetric)
};

struct Platform {
  std::string name;
  std::vector<std::string> quant_nodes;  // op types whose inputs get fake-quant
  QuantSpec weight, act;
  bool quantize_network_output = false;
  bool deploy_weight = false;
  // The back end fuses an Add into the Conv that produces one of its inputs (TensorRT): the
  // QDQ model leaves the first Conv-produced input of each quantized Add unquantized.
  bool fuses_add_into_conv = false;
  bool quantizes(const std::string& op_type) const;
};

// Throws naming the valid platforms when `name` is unknown.
const Platform& platform_by_name(const std::string& name);
std::vector<std::string> platform_names();

}  // namespace dpl
