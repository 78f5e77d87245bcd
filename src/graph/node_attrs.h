// Reading and writing attributes of an onnx::NodeProto: the one place every graph pass,
// weight transform, builder and deploy writer uses (the runtime reads attributes through
// runtime/node_desc.h once a node is converted). Getters return `dflt` when the attribute
// is absent; setters add the attribute or overwrite it, type included.
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dpl {

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name);
bool has_attr(const onnx::NodeProto& n, const std::string& name);

int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t dflt);
float attr_float(const onnx::NodeProto& n, const std::string& name, float dflt);
std::string attr_string(const onnx::NodeProto& n, const std::string& name, const std::string& dflt = "");
// Empty when absent.
std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name);

void set_attr(onnx::NodeProto& n, const std::string& name, int64_t v);
void set_attr(onnx::NodeProto& n, const std::string& name, int v);
void set_attr(onnx::NodeProto& n, const std::string& name, float v);
void set_attr(onnx::NodeProto& n, const std::string& name, const std::string& v);
void set_attr(onnx::NodeProto& n, const std::string& name, const char* v);
void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);
void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<float>& v);
void set_attr(onnx::NodeProto& n, const std::string& name, const onnx::TensorProto& v);

}  // namespace dpl
