#include "runtime/op_registry.h"

#include "util/error.h"

namespace dpl {

OpRegistry& OpRegistry::instance() {
  static OpRegistry r;
  return r;
}

bool OpRegistry::add(const std::string& op_type, Factory f) {
  // Registering a type twice is a programming error that would silently pick one kernel.
  if (map_.count(op_type)) throw Error("operator " + op_type + " registered twice");
  map_[op_type] = std::move(f);
  return true;
}

std::unique_ptr<Op> OpRegistry::create(const std::string& op_type) const {
  auto it = map_.find(op_type);
  DPL_CHECK(it != map_.end(), "operator {} is not supported by the runtime", op_type);
  return it->second();
}

std::vector<std::string> OpRegistry::names() const {
  std::vector<std::string> r;
  for (auto& [k, v] : map_) r.push_back(k);
  return r;
}

}  // namespace dpl
