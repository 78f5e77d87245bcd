#include "calib/ranges.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/atomic_file.h"
#include "util/error.h"

namespace dpl {

namespace {

using nlohmann::json;

// float -> double is exact, and the JSON writer prints the shortest decimal that reads back
// as the same double: every bit of the float survives (as the original's float32.tolist()).
json number(const std::string& path, const std::string& tensor, float v) {
  DPL_CHECK(std::isfinite(v), "cannot write {}: the range of '{}' is not finite ({})", path, tensor, v);
  return json(static_cast<double>(v));
}

json read_json(const std::string& path) {
  std::ifstream f(path);
  DPL_CHECK(f.good(), "cannot open {}", path);
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    fail("{} is not valid JSON: {}", path, e.what());
  }
}

float to_float(const std::string& path, const std::string& tensor, const json& v) {
  DPL_CHECK(v.is_number(), "{}: entry '{}' holds {} where a number is expected", path, tensor, v.dump());
  const double d = v.get<double>();
  DPL_CHECK(std::isfinite(d) && std::fabs(d) <= 3.4028234663852886e38, "{}: entry '{}' holds {}, not a float32 value",
            path, tensor, v.dump());
  return static_cast<float>(d);
}

void write(const std::string& path, const json& j) { write_file_atomic(path, j.dump(4) + "\n"); }

}  // namespace

void save_act_ranges(const std::string& path, const ActRanges& r) {
  json j = json::object();
  for (const auto& [name, range] : r)
    j[name] = json::array({number(path, name, range.lo), number(path, name, range.hi)});
  write(path, j);
}

void save_weight_ranges(const std::string& path, const WeightRanges& r) {
  json j = json::object();
  for (const auto& [name, cr] : r) {
    DPL_CHECK(cr.lo.size() == cr.hi.size(), "cannot write {}: '{}' has {} minimums and {} maximums", path, name,
              cr.lo.size(), cr.hi.size());
    json lo = json::array(), hi = json::array();
    for (float v : cr.lo) lo.push_back(number(path, name, v));
    for (float v : cr.hi) hi.push_back(number(path, name, v));
    j[name] = json::array({std::move(lo), std::move(hi)});
  }
  write(path, j);
}

ActRanges load_act_ranges(const std::string& path) {
  const json j = read_json(path);
  DPL_CHECK(j.is_object(), "{} must hold an object {{tensor: [min, max]}}", path);
  ActRanges r;
  for (const auto& [name, v] : j.items()) {
    DPL_CHECK(v.is_array() && v.size() == 2, "{}: entry '{}' must be [min, max], got {}", path, name, v.dump());
    r[name] = {to_float(path, name, v[0]), to_float(path, name, v[1])};
  }
  return r;
}

WeightRanges load_weight_ranges(const std::string& path) {
  const json j = read_json(path);
  DPL_CHECK(j.is_object(), "{} must hold an object {{tensor: [[min per channel], [max per channel]]}}", path);
  WeightRanges r;
  for (const auto& [name, v] : j.items()) {
    DPL_CHECK(v.is_array() && v.size() == 2 && v[0].is_array() && v[1].is_array() && v[0].size() == v[1].size() &&
                  !v[0].empty(),
              "{}: entry '{}' must be [[min per channel], [max per channel]] with as many of each, got {}", path, name,
              v.dump().substr(0, 200));
    ChannelRanges cr;
    for (const auto& x : v[0]) cr.lo.push_back(to_float(path, name, x));
    for (const auto& x : v[1]) cr.hi.push_back(to_float(path, name, x));
    r[name] = std::move(cr);
  }
  return r;
}

ChannelRanges channel_ranges(const Tensor& w, int axis) {
  DPL_CHECK(w.dtype() == DType::F32, "weight ranges need a float32 tensor, got {}", dtype_name(w.dtype()));
  DPL_CHECK(axis >= -1 && axis < std::max(w.rank(), 1), "channel axis {} out of range for shape {}", axis,
            shape_str(w.shape()));
  int64_t outer = 1, channels = 1, inner = w.numel();
  if (axis >= 0 && w.rank() > 0) {
    channels = w.dim(axis);
    inner = 1;
    for (int d = 0; d < axis; ++d) outer *= w.dim(d);
    for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  }
  ChannelRanges r;
  r.lo.assign(channels, std::numeric_limits<float>::infinity());
  r.hi.assign(channels, -std::numeric_limits<float>::infinity());
  const float* d = w.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = d + (o * channels + c) * inner;
      float lo = r.lo[c], hi = r.hi[c];
      for (int64_t i = 0; i < inner; ++i) {
        lo = std::min(lo, p[i]);
        hi = std::max(hi, p[i]);
      }
      r.lo[c] = lo;
      r.hi[c] = hi;
    }
  return r;
}

}  // namespace dpl
