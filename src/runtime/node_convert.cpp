#include "runtime/node_convert.h"

#include "graph/tensor_proto.h"

namespace dpl {

AttrValue attr_from_proto(const onnx::AttributeProto& a) {
  AttrValue v;
  using K = AttrValue::Kind;
  switch (a.type()) {
    case onnx::AttributeProto::INT: v.kind = K::Int; v.i = a.i(); break;
    case onnx::AttributeProto::FLOAT: v.kind = K::Float; v.f = a.f(); break;
    case onnx::AttributeProto::STRING: v.kind = K::String; v.s = a.s(); break;
    case onnx::AttributeProto::INTS: v.kind = K::Ints; v.ints.assign(a.ints().begin(), a.ints().end()); break;
    case onnx::AttributeProto::FLOATS: v.kind = K::Floats; v.floats.assign(a.floats().begin(), a.floats().end()); break;
    case onnx::AttributeProto::STRINGS: v.kind = K::Strings; v.strings.assign(a.strings().begin(), a.strings().end()); break;
    case onnx::AttributeProto::TENSOR: v.kind = K::Tensor; v.t = tensor_from_proto(a.t()); break;
    case onnx::AttributeProto::GRAPH: v.kind = K::Graph; break;
    default: v.kind = K::Other; break;
  }
  return v;
}

NodeDesc node_desc_from_proto(const onnx::NodeProto& node, int opset) {
  NodeDesc d;
  d.name = node.name();
  d.op_type = node.op_type();
  d.domain = node.domain();
  d.opset = opset;
  d.inputs.assign(node.input().begin(), node.input().end());
  d.outputs.assign(node.output().begin(), node.output().end());
  for (const auto& a : node.attribute()) d.attrs.set(a.name(), attr_from_proto(a));
  return d;
}

}  // namespace dpl
