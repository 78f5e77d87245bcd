// The range look-ups and text formats every deploy writer shares (deploy/deploy_common.h).
#include "deploy/deploy_common.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "graph/weight_axes.h"
#include "util/error.h"
#include "calib/ranges.h"
#include "quant/quant_param.h"
#include "util/error.h"

namespace dpl::deploy {

RangeTable::RangeTable(const DeployInput& in, std::string file) : in_(in), file_(std::move(file)) {
  // Weights tensor calibration covers (weight_ranges): their range must come from there.
  for (const auto& n : in.graph.graph().node())
    for (int k = 1; k < n.input_size(); ++k) {
      const bool weighted = op_has_weight(n.op_type()) || (n.op_type() == "MatMul" && k == 1);
      const auto shape = in.graph.tensor_shape(n.input(k));
      if (weighted && in.graph.is_initializer(n.input(k)) && shape && !shape->empty()) calibrated_.insert(n.input(k));
    }
}

const std::vector<std::string>& RangeTable::activations() const {
  if (acts_) return *acts_;
  std::vector<std::string> acts;
  std::set<std::string> seen;
  auto add = [&](const std::string& t, const std::string& why) {
    if (t.empty() || !seen.insert(t).second) return;
    if (get(t, why)) acts.push_back(t);
  };
  for (const auto& t : in_.graph.network_inputs()) add(t, "a graph input");
  for (const auto& n : in_.graph.graph().node())
    for (const auto& t : n.output()) add(t, "output of node '" + n.name() + "'");
  acts_ = std::move(acts);
  return *acts_;
}

std::optional<ChannelRanges> RangeTable::find(const std::string& t) const {
  if (auto w = in_.weight.find(t); w != in_.weight.end()) {
    // Every writer reads at least one channel; a weight with no channels (a zero dimension)
    // has no range to write.
    DPL_CHECK(!w->second.lo.empty() && w->second.lo.size() == w->second.hi.size(),
              "cannot write {}: the range of weight '{}' has {} minimums and {} maximums", file_, t,
              w->second.lo.size(), w->second.hi.size());
    return w->second;
  }
  if (auto a = in_.act.find(t); a != in_.act.end()) return ChannelRanges{{a->second.lo}, {a->second.hi}};
  if (in_.graph.is_initializer(t) && in_.graph.value_type(t) == DType::F32 && !calibrated_.count(t)) {
    Tensor v = in_.graph.get_initializer(t);
    if (v.numel() > 0) return channel_ranges(v, -1);
  }
  return std::nullopt;
}

std::optional<ChannelRanges> RangeTable::get(const std::string& t, const std::string& why) const {
  if (auto r = find(t)) return r;
  const DType type = in_.graph.value_type(t);
  if (type != DType::F32 && type != DType::Undefined) return std::nullopt;
  return need(t, why);
}

ChannelRanges RangeTable::need(const std::string& t, const std::string& why) const {
  if (auto r = find(t)) return *r;
  fail("cannot write {}: no range for tensor '{}' ({}); the platform '{}' needs it", file_, t, why,
       in_.platform.name);
}

Range RangeTable::need_tensor(const std::string& t, const std::string& why) const {
  ChannelRanges r = need(t, why);
  return {static_cast<float>(min_of(r)), static_cast<float>(max_of(r))};
}

std::vector<std::string> RangeTable::weights() const {
  std::vector<std::string> order;
  std::set<std::string> seen;
  for (const auto& n : in_.graph.graph().node())
    for (const auto& t : n.input())
      if ((in_.weight.count(t) || calibrated_.count(t)) && seen.insert(t).second) order.push_back(t);
  for (const auto& [t, r] : in_.weight)
    if (seen.insert(t).second) order.push_back(t);
  return order;
}

double round_half_even(double v) { return std::nearbyint(v); }

int act_bits(const DeployInput& in, const std::string& t) {
  return in.qdq ? in.qdq->precision.act(t).bits : in.platform.act.bits;
}

int weight_bits(const DeployInput& in, const std::string& t) {
  return in.qdq ? in.qdq->precision.weight(t).bits : in.platform.weight.bits;
}

AsymmetricGrid asymmetric_grid(const Range& r, int bits, double zero_range_scale) {
  const double lo = std::min(0.0, static_cast<double>(r.lo)), hi = std::max(0.0, static_cast<double>(r.hi));
  double scale = (hi - lo) / unsigned_max_code(bits);
  if (scale == 0.0) scale = zero_range_scale;
  return {scale, static_cast<int64_t>(round_half_even(-lo / scale))};
}

std::string json_text(const Json& j, const std::string& file) {
  try {
    return j.dump(4) + "\n";
  } catch (const Json::exception& e) {
    fail("cannot write {}: a tensor name is not valid UTF-8 ({})", file, e.what());
  }
}

std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits in scientific form: d[.ddd]e<sign><exp>.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
  std::string s(buf, res.ptr);
  const size_t e = s.find('e');
  std::string digits = s.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp10 = std::stoi(s.substr(e + 1));
  std::string out = v < 0 ? "-" : "";
  if (exp10 < -4 || exp10 >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += exp10 < 0 ? "e-" : "e+";
    std::string ex = std::to_string(std::abs(exp10));
    if (ex.size() < 2) ex = "0" + ex;
    return out + ex;
  }
  if (exp10 < 0) return out + "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
  const size_t int_digits = static_cast<size_t>(exp10) + 1;
  if (digits.size() <= int_digits) return out + digits + std::string(int_digits - digits.size(), '0') + ".0";
  return out + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

bool plain_text_name(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (c <= 0x20 || c == 0x7f) return false;
  return true;
}

namespace {

// Decodes UTF-8; false on a malformed sequence.
bool decode_utf8(const std::string& s, std::vector<uint32_t>& cps) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7f >> len);
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    cps.push_back(cp);
    i += len;
  }
  return true;
}

bool yaml_plain_ok(const std::string& s) {
  if (s.empty()) return false;
  const char c0 = s[0];
  if (!(std::isalpha(static_cast<unsigned char>(c0)) || c0 == '_')) return false;
  // ':' only inside the name (": " or a final ':' would end a key).
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == ':' && i + 1 < s.size() && s[i + 1] != ' ') continue;
    if (!(std::isalnum(c) || c == '_' || c == '.' || c == '/' || c == '-')) return false;
  }
  std::string low;
  for (char c : s) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> reserved{"y", "n", "yes", "no", "true", "false", "on", "off",
                                              "null", "inf", "nan", "infinity"};
  return reserved.count(low) == 0;
}

std::string yaml_string(const std::string& s, const std::string& file) {
  if (yaml_plain_ok(s)) return s;
  bool printable_ascii = true;
  for (unsigned char c : s) printable_ascii &= c >= 0x20 && c < 0x7f;
  if (printable_ascii) {
    std::string r = "'";
    for (char c : s) r += c == '\'' ? std::string("''") : std::string(1, c);
    return r + "'";
  }
  std::vector<uint32_t> cps;
  DPL_CHECK(decode_utf8(s, cps), "cannot write {}: a tensor name is not valid UTF-8", file);
  std::string r = "\"";
  for (uint32_t cp : cps) {
    if (cp == '"') r += "\\\"";
    else if (cp == '\\') r += "\\\\";
    else if (cp == '\n') r += "\\n";
    else if (cp == '\t') r += "\\t";
    else if (cp == '\r') r += "\\r";
    else if (cp >= 0x20 && cp < 0x7f) r += static_cast<char>(cp);
    else if (cp < 0x100) r += fmt::format("\\x{:02X}", cp);
    else if (cp < 0x10000) r += fmt::format("\\u{:04X}", cp);
    else r += fmt::format("\\U{:08X}", cp);
  }
  return r + "\"";
}

// PyYAML writes floats as repr() with ".0" before an exponent that has no dot.
std::string yaml_float(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v < 0 ? "-.inf" : ".inf";
  std::string s = py_float(v);
  const size_t e = s.find('e');
  if (e != std::string::npos && s.find('.') == std::string::npos) s.insert(e, ".0");
  return s;
}

std::string yaml_scalar(const Json& j, const std::string& file) {
  if (j.is_string()) return yaml_string(j.get<std::string>(), file);
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_null()) return "null";
  if (j.is_number_integer()) return j.dump();
  return yaml_float(j.get<double>());
}

bool is_empty_collection(const Json& j) { return (j.is_object() || j.is_array()) && j.empty(); }

void emit(const Json& j, int indent, std::string& out, const std::string& file);

// Writes "<prefix>value" for a value that follows a key or a dash.
void emit_value(const Json& v, int indent, std::string& out, const std::string& file, bool in_sequence) {
  if (is_empty_collection(v)) {
    out += v.is_object() ? " {}\n" : " []\n";
  } else if (v.is_object()) {
    out += "\n";
    emit(v, indent + 2, out, file);
  } else if (v.is_array()) {
    out += "\n";
    // Sequences under a mapping key are not indented (PyYAML's style); nested ones are.
    emit(v, in_sequence ? indent + 2 : indent, out, file);
  } else {
    out += " " + yaml_scalar(v, file) + "\n";
  }
}

void emit(const Json& j, int indent, std::string& out, const std::string& file) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (j.is_object()) {
    std::map<std::string, const Json*> sorted;  // byte order = code point order, as Python's sort
    for (const auto& [k, v] : j.items()) sorted[k] = &v;
    for (const auto& [k, v] : sorted) {
      out += pad + yaml_string(k, file) + ":";
      emit_value(*v, indent, out, file, false);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) {
      out += pad + "-";
      emit_value(v, indent, out, file, true);
    }
  } else {
    out += pad + yaml_scalar(j, file) + "\n";
  }
}

}  // namespace

std::string yaml_text(const Json& j, const std::string& file) {
  if (is_empty_collection(j)) return j.is_object() ? "{}\n" : "[]\n";
  std::string out;
  emit(j, 0, out, file);
  return out;
}

}  // namespace dpl::deploy
