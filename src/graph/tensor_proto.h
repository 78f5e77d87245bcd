// Conversion between onnx::TensorProto and the runtime Tensor, external data included.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>

#include "core/tensor.h"

namespace dpl {

// base_dir resolves external-data locations (the model file's folder).
Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir = "");
onnx::TensorProto tensor_to_proto(const Tensor& t, const std::string& name);
// Throws unless p's raw_data holds exactly the bytes of its shape (nothing to check without
// raw_data, or for an element type the runtime does not hold: tensor_from_proto refuses it).
void check_raw_data_size(const onnx::TensorProto& p);
// Reads a serialized TensorProto file (the conformance data's input_0.pb etc.).
onnx::TensorProto read_tensor_proto_file(const std::string& path);
// Replaces external-data references in `p` with inline raw_data.
void inline_external_data(onnx::TensorProto& p, const std::string& base_dir);

}  // namespace dpl
