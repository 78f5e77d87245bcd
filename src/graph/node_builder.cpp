// make_node's fields in ONNX's order: op type, name (only when given), inputs, outputs.
#include "graph/node_builder.h"

namespace dpl {

NodeBuilder::NodeBuilder(const std::string& op_type, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs, const std::string& name) {
  node_.set_op_type(op_type);
  if (!name.empty()) node_.set_name(name);
  for (const auto& s : inputs) node_.add_input(s);
  for (const auto& s : outputs) node_.add_output(s);
}

}  // namespace dpl
