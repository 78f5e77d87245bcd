// Conversion between onnx::TensorProto and the runtime Tensor, external data included.
#pragma once
#include <onnx/onnx_pb.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/tensor.h"

namespace dpl {

// base_dir resolves external-data locations (the model file's folder).
Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir = "");
onnx::TensorProto tensor_to_proto(const Tensor& t, const std::string& name);
// Throws unless p's data holds exactly its shape's elements: raw_data its bytes (for the
// element types the runtime holds: tensor_from_proto refuses the others), or the typed field
// of its element type that many values. External data is checked when it is read.
void check_data_size(const onnx::TensorProto& p);
// Reads a serialized TensorProto file (the conformance data's input_0.pb etc.).
onnx::TensorProto read_tensor_proto_file(const std::string& path);
// Replaces external-data references in `p` with inline raw_data.
void inline_external_data(onnx::TensorProto& p, const std::string& base_dir);
// Checks an external-data tensor without reading it: the file exists inside base_dir and
// holds exactly the bytes its shape needs at the offset given. Returns that byte count.
size_t check_external_data(const onnx::TensorProto& p, const std::string& base_dir);
// The bytes of an external-data tensor, in place in its mapped file, which `keep` holds.
std::string_view external_data_bytes(const onnx::TensorProto& p, const std::string& base_dir,
                                     std::shared_ptr<const void>& keep);

}  // namespace dpl
