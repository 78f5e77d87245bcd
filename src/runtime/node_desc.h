// What an operator sees of its graph node: names, attributes and constant inputs, in the
// runtime's own types so kernels never include protobuf headers.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dpl {

struct AttrValue {
  enum class Kind { Int, Float, String, Ints, Floats, Strings, Tensor, Graph, Other };
  Kind kind = Kind::Other;
  int64_t i = 0;
  float f = 0.f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  Tensor t;
};

class Attributes {
 public:
  void set(const std::string& name, AttrValue v) { map_[name] = std::move(v); }
  bool has(const std::string& name) const { return map_.count(name) != 0; }
  const AttrValue* find(const std::string& name) const;

  int64_t get_int(const std::string& name, int64_t dflt) const;
  float get_float(const std::string& name, float dflt) const;
  std::string get_string(const std::string& name, const std::string& dflt) const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> dflt = {}) const;
  std::vector<float> get_floats(const std::string& name, std::vector<float> dflt = {}) const;
  std::vector<std::string> get_strings(const std::string& name) const;
  // nullptr when absent.
  const Tensor* get_tensor(const std::string& name) const;
  const std::map<std::string, AttrValue>& all() const { return map_; }

 private:
  std::map<std::string, AttrValue> map_;
};

struct NodeDesc {
  std::string name;
  std::string op_type;
  std::string domain;
  int opset = 13;
  std::vector<std::string> inputs;   // "" for an omitted optional input
  std::vector<std::string> outputs;  // "" for an omitted optional output
  Attributes attrs;
  // Per input: the initializer's value when the input is a constant, else nullptr.
  // Lets kernels pre-pack weights once per session.
  std::vector<const Tensor*> const_inputs;
  // Inference sessions only: nodes that followed this one in the graph and that the op
  // agreed to apply itself (Op::can_absorb), in order. Their extra operands (e.g. the
  // other input of a residual Add) are appended to `inputs`/`const_inputs`, and `outputs`
  // is the last absorbed node's outputs.
  std::vector<NodeDesc> absorbed;
  // Inference sessions only: nodes before this one whose work the planner folded into its
  // attributes (a zero Pad into a Conv's pads, runtime/pad_folding.h).
  std::vector<NodeDesc> folded;
  // Index in `inputs` where absorbed operands start (== own input count).
  size_t own_inputs = 0;

  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
  const Tensor* constant(size_t i) const { return i < const_inputs.size() ? const_inputs[i] : nullptr; }
};

}  // namespace dpl
