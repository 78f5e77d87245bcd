// The --quant_config file (docs/quant-config.md): per op type, per node-name pattern (glob),
// per node name and per tensor, the bit widths, skip, symmetry, granularity and fixed
// activation ranges the precision plan (quant/precision.h) applies on top of the platform
// table and the --w_bits / --a_bits / --first_last_8bit flags. YAML or JSON (yaml-cpp reads
// both). Everything a user can get wrong in the file is checked here, before the model is
// even loaded: a parse error (with line and column), an unknown section or key, bits outside
// 2..8, a range that is not [lo, hi] with lo <= hi, an op type no ONNX operator has.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "calib/ranges.h"

namespace dpl {

// One entry of the file. Node entries (op_types, patterns, nodes) take w_bits, a_bits, skip,
// symmetric, per_channel; tensor entries take bits, symmetric, per_channel, range.
struct QuantOverride {
  std::optional<int> w_bits, a_bits, bits;
  std::optional<bool> skip, symmetric, per_channel;
  std::optional<Range> range;
};

struct QuantConfigEntry {
  std::string key;  // op type, glob pattern, node name or tensor name
  QuantOverride set;
  int line = 0;     // 1-based line of the entry in the file, for messages
};

struct QuantConfig {
  std::string file;  // where it was read from (messages name it)
  std::vector<QuantConfigEntry> op_types, patterns, nodes, tensors;  // in file order
  bool empty() const { return op_types.empty() && patterns.empty() && nodes.empty() && tensors.empty(); }
};

// Parses `text` (named `file` in messages). Throws dpl::Error "<file>:<line>:<column>: ..." on
// the first problem.
QuantConfig parse_quant_config(const std::string& text, const std::string& file);
// Reads and parses the file at `path`; throws naming it when it cannot be read.
QuantConfig load_quant_config(const std::string& path);

// Glob match of a node name (the patterns section): '*' any run of characters ('/' and '.'
// included), '?' one character, '[...]' one of a set, as fnmatch(3) without flags.
bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace dpl
