#include "runtime/node_desc.h"

namespace dpl {

const AttrValue* Attributes::find(const std::string& name) const {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : &it->second;
}

int64_t Attributes::get_int(const std::string& name, int64_t dflt) const {
  const AttrValue* a = find(name);
  return a ? a->i : dflt;
}

float Attributes::get_float(const std::string& name, float dflt) const {
  const AttrValue* a = find(name);
  return a ? a->f : dflt;
}

std::string Attributes::get_string(const std::string& name, const std::string& dflt) const {
  const AttrValue* a = find(name);
  return a ? a->s : dflt;
}

std::vector<int64_t> Attributes::get_ints(const std::string& name, std::vector<int64_t> dflt) const {
  const AttrValue* a = find(name);
  return a ? a->ints : dflt;
}

std::vector<float> Attributes::get_floats(const std::string& name, std::vector<float> dflt) const {
  const AttrValue* a = find(name);
  return a ? a->floats : dflt;
}

std::vector<std::string> Attributes::get_strings(const std::string& name) const {
  const AttrValue* a = find(name);
  return a ? a->strings : std::vector<std::string>{};
}

const Tensor* Attributes::get_tensor(const std::string& name) const {
  const AttrValue* a = find(name);
  return a && a->kind == AttrValue::Kind::Tensor ? &a->t : nullptr;
}

}  // namespace dpl
