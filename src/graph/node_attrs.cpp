#include "graph/node_attrs.h"

namespace dpl {

namespace {

// The attribute `name`, cleared of any previous value, with type `type`.
onnx::AttributeProto& fresh_attr(onnx::NodeProto& n, const std::string& name, onnx::AttributeProto::AttributeType type) {
  onnx::AttributeProto* found = nullptr;
  for (auto& a : *n.mutable_attribute())
    if (a.name() == name) found = &a;
  if (!found) found = n.add_attribute();
  found->Clear();
  found->set_name(name);
  found->set_type(type);
  return *found;
}

}  // namespace

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

bool has_attr(const onnx::NodeProto& n, const std::string& name) { return find_attr(n, name) != nullptr; }

int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : dflt;
}

float attr_float(const onnx::NodeProto& n, const std::string& name, float dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->f() : dflt;
}

std::string attr_string(const onnx::NodeProto& n, const std::string& name, const std::string& dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->s() : dflt;
}

std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = find_attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

void set_attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  fresh_attr(n, name, onnx::AttributeProto::INT).set_i(v);
}

void set_attr(onnx::NodeProto& n, const std::string& name, int v) { set_attr(n, name, static_cast<int64_t>(v)); }

void set_attr(onnx::NodeProto& n, const std::string& name, float v) {
  fresh_attr(n, name, onnx::AttributeProto::FLOAT).set_f(v);
}

void set_attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  fresh_attr(n, name, onnx::AttributeProto::STRING).set_s(v);
}

void set_attr(onnx::NodeProto& n, const std::string& name, const char* v) { set_attr(n, name, std::string(v)); }

void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto& a = fresh_attr(n, name, onnx::AttributeProto::INTS);
  for (int64_t x : v) a.add_ints(x);
}

void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<float>& v) {
  auto& a = fresh_attr(n, name, onnx::AttributeProto::FLOATS);
  for (float x : v) a.add_floats(x);
}

void set_attr(onnx::NodeProto& n, const std::string& name, const onnx::TensorProto& v) {
  *fresh_attr(n, name, onnx::AttributeProto::TENSOR).mutable_t() = v;
}

}  // namespace dpl
