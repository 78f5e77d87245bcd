// Reading the --quant_config file (quant/quant_config.h, docs/quant-config.md) with yaml-cpp,
// which takes JSON as well. Each problem is one line naming the file, line and column.
#include "quant/quant_config.h"

#include <fmt/ranges.h>
#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "quant/platform.h"
#include "runtime/op_registry.h"
#include "util/error.h"

namespace dpl {

namespace {

const std::vector<std::string> kNodeKeys{"w_bits", "a_bits", "skip", "symmetric", "per_channel"};
const std::vector<std::string> kTensorKeys{"bits", "symmetric", "per_channel", "range"};
const std::vector<std::string> kSections{"op_types", "patterns", "nodes", "tensors"};

// An op type some ONNX model can hold and this tool can run, or that a platform lists.
bool known_op_type(const std::string& op) {
  if (OpRegistry::instance().has(op)) return true;
  for (const auto& name : platform_names())
    if (platform_by_name(name).quantizes(op)) return true;
  return false;
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail_at(const YAML::Mark& m, const std::string& what) const {
    fail("--quant_config {}:{}:{}: {}", file_, m.line + 1, m.column + 1, what);
  }

  int bits(const YAML::Node& v, const std::string& key) const {
    int b = 0;
    if (!v.IsScalar() || !YAML::convert<int>::decode(v, b) || b < 2 || b > 8)
      fail_at(v.Mark(), fmt::format("{} must be an integer from 2 to 8, got '{}'", key, scalar_text(v)));
    return b;
  }

  bool flag(const YAML::Node& v, const std::string& key) const {
    bool b = false;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b))
      fail_at(v.Mark(), fmt::format("{} must be true or false, got '{}'", key, scalar_text(v)));
    return b;
  }

  Range range(const YAML::Node& v) const {
    if (!v.IsSequence() || v.size() != 2) fail_at(v.Mark(), "range must be a list of two numbers [lo, hi]");
    double lo = 0, hi = 0;
    const YAML::Node a = v[0], b = v[1];
    if (!a.IsScalar() || !YAML::convert<double>::decode(a, lo) || !std::isfinite(lo) || !b.IsScalar() ||
        !YAML::convert<double>::decode(b, hi) || !std::isfinite(hi))
      fail_at(v.Mark(), "range must be a list of two finite numbers [lo, hi]");
    if (lo > hi) fail_at(v.Mark(), fmt::format("range [{}, {}] has lo > hi", lo, hi));
    return {static_cast<float>(lo), static_cast<float>(hi)};
  }

  QuantConfigEntry entry(const std::string& section, const YAML::Node& key, const YAML::Node& body) const {
    QuantConfigEntry e;
    if (!key.IsScalar() || key.Scalar().empty()) fail_at(key.Mark(), "a " + section + " entry needs a name");
    e.key = key.Scalar();
    e.line = static_cast<int>(key.Mark().line) + 1;
    if (section == "op_types" && !known_op_type(e.key))
      fail_at(key.Mark(), fmt::format("unknown op type '{}' (an ONNX operator name such as Conv, Gemm, MatMul)", e.key));
    if (!body.IsMap())
      fail_at(body.Mark(), fmt::format("{} '{}': expected a map of settings such as {{w_bits: 4}}", section, e.key));
    const bool tensor = section == "tensors";
    const auto& keys = tensor ? kTensorKeys : kNodeKeys;
    for (auto it = body.begin(); it != body.end(); ++it) {
      // Copies: the iterator hands out temporaries.
      const YAML::Node key_node = it->first, v = it->second;
      const std::string k = key_node.IsScalar() ? key_node.Scalar() : std::string();
      if (std::find(keys.begin(), keys.end(), k) == keys.end())
        fail_at(key_node.Mark(), fmt::format("{} '{}': unknown key '{}' (known: {})", section, e.key, k,
                                              fmt::join(keys, ", ")));
      if (k == "w_bits") e.set.w_bits = bits(v, k);
      else if (k == "a_bits") e.set.a_bits = bits(v, k);
      else if (k == "bits") e.set.bits = bits(v, k);
      else if (k == "skip") e.set.skip = flag(v, k);
      else if (k == "symmetric") e.set.symmetric = flag(v, k);
      else if (k == "per_channel") e.set.per_channel = flag(v, k);
      else e.set.range = range(v);
    }
    return e;
  }

  QuantConfig read(const std::string& text) const {
    QuantConfig c;
    c.file = file_;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      fail_at(e.mark, "does not parse: " + e.msg);
    }
    if (root.IsNull()) return c;
    if (!root.IsMap()) fail_at(root.Mark(), fmt::format("expected a map with sections {}", fmt::join(kSections, ", ")));
    for (auto it = root.begin(); it != root.end(); ++it) {
      const YAML::Node section = it->first, body = it->second;
      const std::string s = section.IsScalar() ? section.Scalar() : std::string();
      if (std::find(kSections.begin(), kSections.end(), s) == kSections.end())
        fail_at(section.Mark(), fmt::format("unknown section '{}' (known: {})", s, fmt::join(kSections, ", ")));
      if (body.IsNull()) continue;
      if (!body.IsMap()) fail_at(body.Mark(), fmt::format("section '{}' must be a map of names to settings", s));
      auto& list = s == "op_types" ? c.op_types : s == "patterns" ? c.patterns : s == "nodes" ? c.nodes : c.tensors;
      std::set<std::string> seen;
      for (auto e = body.begin(); e != body.end(); ++e) {
        const YAML::Node name = e->first, settings = e->second;
        list.push_back(entry(s, name, settings));
        if (!seen.insert(list.back().key).second)
          fail_at(name.Mark(), fmt::format("{} '{}' is given twice", s, list.back().key));
      }
    }
    return c;
  }

 private:
  static std::string scalar_text(const YAML::Node& v) { return v.IsScalar() ? v.Scalar() : "a list or map"; }
  std::string file_;
};

}  // namespace

QuantConfig parse_quant_config(const std::string& text, const std::string& file) { return Reader(file).read(text); }

QuantConfig load_quant_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DPL_CHECK(f.good(), "--quant_config {}: cannot be read", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_quant_config(ss.str(), path);
}

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

}  // namespace dpl
