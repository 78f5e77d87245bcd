// snpe_encodings.json (the original's deploy_snpe.py): activation encodings only,
// {"activation_encodings": {t: [{"bitwidth": b, "min": lo, "max": max(max(0, hi), lo + 0.01)}]},
// "param_encodings": {}} for every node input that is not an initializer and every graph
// output; the 0.01 minimum span keeps SNPE from a zero-width range. SNPE computes the weight
// encodings itself (--deploy_extra aimet writes them too). b: the tensor's activation bits (the
// precision plan's; 8 by default).
#include <algorithm>

#include "deploy/backends.h"
#include "deploy/deploy_common.h"

namespace dpl::deploy {

namespace {

Json encoding(const Range& r, int bits) {
  const double lo = r.lo, hi = r.hi;
  Json e = Json::object();
  e["bitwidth"] = bits;
  e["min"] = lo;
  e["max"] = std::max(std::max(0.0, hi), lo + 0.01);
  return Json::array({std::move(e)});
}

}  // namespace

std::vector<DeployFile> snpe_files(const DeployInput& in) {
  const std::string file = "snpe_encodings.json";
  RangeTable table(in, file);
  Json acts = Json::object();
  for (const auto& n : in.graph.graph().node()) {
    for (const auto& t : n.input()) {
      if (t.empty() || in.graph.is_initializer(t)) continue;
      auto r = table.get(t, "input of node '" + n.name() + "'");
      if (!r) continue;  // not float32: a shape or an index
      acts[t] = encoding({static_cast<float>(min_of(*r)), static_cast<float>(max_of(*r))}, act_bits(in, t));
    }
  }
  for (const auto& t : in.graph.network_outputs()) {
    auto r = table.get(t, "a graph output");
    if (r) acts[t] = encoding({static_cast<float>(min_of(*r)), static_cast<float>(max_of(*r))}, act_bits(in, t));
  }
  Json j = Json::object();
  j["activation_encodings"] = std::move(acts);
  j["param_encodings"] = Json::object();
  return {{file, json_text(j, file)}};
}

}  // namespace dpl::deploy
