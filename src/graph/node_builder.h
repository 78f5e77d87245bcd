// Building an onnx::NodeProto in one expression, for every pass, builder and test that adds
// nodes to a graph:
//   *nodes.Add() = make_node("DequantizeLinear", {q, scale, zp}, {y}, name).attr("axis", 1);
// Attributes go through graph/node_attrs.h's set_attr (setting a name twice keeps the last
// value). An empty name leaves the node's name unset, as ONNX exporters do.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <utility>
#include <vector>

#include "graph/node_attrs.h"

namespace dpl {

class NodeBuilder {
 public:
  NodeBuilder(const std::string& op_type, const std::vector<std::string>& inputs,
              const std::vector<std::string>& outputs, const std::string& name = "");

  template <class T>
  NodeBuilder& attr(const std::string& name, const T& value) & {
    set_attr(node_, name, value);
    return *this;
  }
  template <class T>
  NodeBuilder&& attr(const std::string& name, const T& value) && {
    set_attr(node_, name, value);
    return std::move(*this);
  }

  const onnx::NodeProto& node() const { return node_; }
  operator onnx::NodeProto() const& { return node_; }
  operator onnx::NodeProto() && { return std::move(node_); }

 private:
  onnx::NodeProto node_;
};

inline NodeBuilder make_node(const std::string& op_type, const std::vector<std::string>& inputs,
                             const std::vector<std::string>& outputs, const std::string& name = "") {
  return NodeBuilder(op_type, inputs, outputs, name);
}

}  // namespace dpl
