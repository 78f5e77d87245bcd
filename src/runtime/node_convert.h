// NodeProto -> NodeDesc: what a kernel sees of its node.
#pragma once
#include <onnx/onnx_pb.h>

#include "runtime/node_desc.h"

namespace dpl {

NodeDesc node_desc_from_proto(const onnx::NodeProto& node, int opset);
AttrValue attr_from_proto(const onnx::AttributeProto& a);

}  // namespace dpl
