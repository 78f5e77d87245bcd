#include "graph/tensor_proto.h"

#include <cstring>
#include <fstream>

#include "util/error.h"

namespace dpl {

namespace {

template <typename T, typename Field>
void copy_field(Tensor& t, const Field& f) {
  DPL_CHECK(static_cast<int64_t>(f.size()) == t.numel(), "tensor has {} values for shape {}", f.size(),
            shape_str(t.shape()));
  T* d = static_cast<T*>(t.raw());
  for (int i = 0; i < f.size(); ++i) d[i] = static_cast<T>(f.Get(i));
}

std::string read_external(const onnx::TensorProto& p, const std::string& base_dir) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") location = kv.value();
    if (kv.key() == "offset") offset = std::stoll(kv.value());
    if (kv.key() == "length") length = std::stoll(kv.value());
  }
  DPL_CHECK(!location.empty(), "tensor {} has external data without a location", p.name());
  std::string path = base_dir.empty() ? location : base_dir + "/" + location;
  std::ifstream f(path, std::ios::binary);
  DPL_CHECK(f.good(), "external data file {} of tensor {} cannot be opened", path, p.name());
  f.seekg(0, std::ios::end);
  int64_t size = f.tellg();
  if (length < 0) length = size - offset;
  DPL_CHECK(offset + length <= size, "external data of tensor {} lies beyond the end of {}", p.name(), path);
  std::string buf(static_cast<size_t>(length), '\0');
  f.seekg(offset);
  f.read(buf.data(), length);
  return buf;
}

}  // namespace

void inline_external_data(onnx::TensorProto& p, const std::string& base_dir) {
  if (p.data_location() != onnx::TensorProto::EXTERNAL) return;
  std::string raw = read_external(p, base_dir);
  p.clear_external_data();
  p.set_data_location(onnx::TensorProto::DEFAULT);
  p.set_raw_data(std::move(raw));
}

Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir) {
  DType dt = static_cast<DType>(p.data_type());
  DPL_CHECK(dtype_supported(dt), "tensor {} has element type {}, which the runtime does not support", p.name(),
            dtype_name(dt));
  Shape shape(p.dims().begin(), p.dims().end());
  Tensor t(dt, shape);
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string raw = read_external(p, base_dir);
    DPL_CHECK(raw.size() == t.bytes(), "tensor {}: external data has {} bytes, expected {}", p.name(), raw.size(),
              t.bytes());
    std::memcpy(t.raw(), raw.data(), raw.size());
    return t;
  }
  if (p.has_raw_data()) {
    DPL_CHECK(p.raw_data().size() == t.bytes(), "tensor {}: raw data has {} bytes, expected {} for shape {}",
              p.name(), p.raw_data().size(), t.bytes(), shape_str(shape));
    std::memcpy(t.raw(), p.raw_data().data(), t.bytes());
    return t;
  }
  switch (dt) {
    case DType::F32: copy_field<float>(t, p.float_data()); break;
    case DType::F64: copy_field<double>(t, p.double_data()); break;
    case DType::I64: copy_field<int64_t>(t, p.int64_data()); break;
    case DType::U32: case DType::U64: copy_field<uint64_t>(t, p.uint64_data()); break;
    // int32_data holds every type of 32 bits or less (bool, int8, uint8, fp16 bits...).
    case DType::I32: copy_field<int32_t>(t, p.int32_data()); break;
    case DType::I16: copy_field<int16_t>(t, p.int32_data()); break;
    case DType::U16: case DType::F16: copy_field<uint16_t>(t, p.int32_data()); break;
    case DType::I8: copy_field<int8_t>(t, p.int32_data()); break;
    case DType::U8: copy_field<uint8_t>(t, p.int32_data()); break;
    case DType::Bool: copy_field<bool>(t, p.int32_data()); break;
    default: fail("tensor {}: element type {} not supported", p.name(), dtype_name(dt));
  }
  return t;
}

onnx::TensorProto tensor_to_proto(const Tensor& t, const std::string& name) {
  onnx::TensorProto p;
  p.set_name(name);
  p.set_data_type(static_cast<int>(t.dtype()));
  for (int64_t d : t.shape()) p.add_dims(d);
  p.set_raw_data(std::string(static_cast<const char*>(t.raw()), t.bytes()));
  return p;
}

onnx::TensorProto read_tensor_proto_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DPL_CHECK(f.good(), "cannot open {}", path);
  onnx::TensorProto p;
  DPL_CHECK(p.ParseFromIstream(&f), "{} is not a serialized TensorProto", path);
  return p;
}

}  // namespace dpl
