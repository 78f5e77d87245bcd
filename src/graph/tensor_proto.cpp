#include "graph/tensor_proto.h"

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/memory_budget.h"
#include "io/mapped_file.h"
#include "util/error.h"

namespace dpl {

namespace fs = std::filesystem;

namespace {

template <typename T, typename Field>
void copy_field(Tensor& t, const Field& f) {
  DPL_CHECK(static_cast<int64_t>(f.size()) == t.numel(), "tensor has {} values for shape {}", f.size(),
            shape_str(t.shape()));
  T* d = static_cast<T*>(t.raw());
  for (int i = 0; i < f.size(); ++i) d[i] = static_cast<T>(f.Get(i));
}

// A non-negative integer of an external-data entry, or a clear error.
int64_t external_number(const onnx::TensorProto& p, const std::string& key, const std::string& value) {
  int64_t v = -1;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  DPL_CHECK(ec == std::errc() && end == value.data() + value.size() && v >= 0,
            "tensor '{}': external data {} '{}' is not a non-negative integer", p.name(), key, value);
  return v;
}

// The file `location` names, which must lie inside the model's folder (docs/reliability.md):
// an absolute path, a '..' leading out of it or a symbolic link pointing out is refused, so
// that a model cannot make any file the user can read into its weights.
fs::path confined_location(const onnx::TensorProto& p, const std::string& location, const std::string& base_dir) {
  const fs::path base = base_dir.empty() ? fs::path(".") : fs::path(base_dir);
  const fs::path loc(location);
  DPL_CHECK(!loc.is_absolute() && !loc.has_root_name(),
            "tensor '{}': external data location '{}' is an absolute path; only files inside the model's folder "
            "are read",
            p.name(), location);
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(base, ec);
  DPL_CHECK(!ec, "tensor '{}': the model's folder {} cannot be resolved: {}", p.name(), base.string(), ec.message());
  const fs::path full = fs::weakly_canonical(base / loc, ec);
  DPL_CHECK(!ec, "tensor '{}': external data location '{}' cannot be resolved: {}", p.name(), location,
            ec.message());
  const fs::path rel = full.lexically_relative(root);
  DPL_CHECK(!rel.empty() && *rel.begin() != ".." && rel != ".",
            "tensor '{}': external data location '{}' resolves to {}, outside the model's folder {}; only files "
            "inside it are read",
            p.name(), location, full.string(), root.string());
  return full;
}

// The bytes an external-data reference names, in the mapped file, checked against its size.
struct ExternalBytes {
  std::shared_ptr<const MappedFile> file;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

ExternalBytes external_bytes(const onnx::TensorProto& p, const std::string& base_dir) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") location = kv.value();
    if (kv.key() == "offset") offset = external_number(p, "offset", kv.value());
    if (kv.key() == "length") length = external_number(p, "length", kv.value());
  }
  DPL_CHECK(!location.empty(), "tensor '{}' has external data without a location", p.name());
  const fs::path path = confined_location(p, location, base_dir);
  std::error_code ec;
  DPL_CHECK(fs::is_regular_file(path, ec), "tensor '{}': external data file '{}' ({}) does not exist or is not a file",
            p.name(), location, path.string());
  ExternalBytes b;
  try {
    b.file = MappedFile::open(path.string());
  } catch (const std::exception& e) {
    fail("tensor '{}': external data file '{}': {}", p.name(), location, e.what());
  }
  const int64_t size = static_cast<int64_t>(b.file->size());
  DPL_CHECK(offset <= size && (length < 0 || length <= size - offset),
            "tensor '{}': external data (offset {}, length {}) lies beyond the end of '{}' ({} bytes)", p.name(),
            offset, length, location, size);
  if (length < 0) length = size - offset;
  b.data = b.file->data() + offset;
  b.size = static_cast<size_t>(length);
  return b;
}

// The same, holding exactly `want` bytes (the tensor's shape), or a clear error.
ExternalBytes sized_external_bytes(const onnx::TensorProto& p, const std::string& base_dir, size_t want) {
  ExternalBytes b = external_bytes(p, base_dir);
  DPL_CHECK(b.size == want, "tensor '{}': external data in '{}' has {} bytes, expected {} for shape {}", p.name(),
            b.file->path(), b.size, want, shape_str(Shape(p.dims().begin(), p.dims().end())));
  return b;
}

}  // namespace

void inline_external_data(onnx::TensorProto& p, const std::string& base_dir) {
  if (p.data_location() != onnx::TensorProto::EXTERNAL) return;
  const ExternalBytes b = external_bytes(p, base_dir);
  check_tensor_budget(p.name(), b.size);
  p.clear_external_data();
  p.set_data_location(onnx::TensorProto::DEFAULT);
  p.set_raw_data(b.data, b.size);
}

size_t check_external_data(const onnx::TensorProto& p, const std::string& base_dir) {
  const DType dt = static_cast<DType>(p.data_type());
  DPL_CHECK(dtype_supported(dt), "tensor {} has element type {}, which the runtime does not support", p.name(),
            dtype_name(dt));
  const Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    DPL_CHECK(d >= 0, "tensor '{}' has a negative dimension in shape {}", p.name(), shape_str(shape));
  const size_t want = saturated_bytes(shape, dtype_size(dt));
  sized_external_bytes(p, base_dir, want);
  return want;
}

std::string_view external_data_bytes(const onnx::TensorProto& p, const std::string& base_dir,
                                     std::shared_ptr<const void>& keep) {
  const ExternalBytes b = external_bytes(p, base_dir);
  keep = b.file;
  return {reinterpret_cast<const char*>(b.data), b.size};
}

void check_data_size(const onnx::TensorProto& p) {
  if (p.data_location() == onnx::TensorProto::EXTERNAL) return;  // checked when it is read
  const Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    DPL_CHECK(d >= 0, "tensor '{}' has a negative dimension in shape {}", p.name(), shape_str(shape));
  const DType dt = static_cast<DType>(p.data_type());
  if (p.has_raw_data()) {
    if (!dtype_supported(dt)) return;
    const size_t want = saturated_bytes(shape, dtype_size(dt));
    DPL_CHECK(p.raw_data().size() == want, "tensor '{}': raw data has {} bytes, expected {} for shape {}", p.name(),
              p.raw_data().size(), want, shape_str(shape));
    return;
  }
  // The typed field of each ONNX element type, and how many of its entries one element takes.
  using TP = onnx::TensorProto;
  int64_t values = -1, per_element = 1;
  switch (p.data_type()) {
    case TP::FLOAT: values = p.float_data_size(); break;
    case TP::COMPLEX64: values = p.float_data_size(); per_element = 2; break;
    case TP::DOUBLE: values = p.double_data_size(); break;
    case TP::COMPLEX128: values = p.double_data_size(); per_element = 2; break;
    case TP::INT64: values = p.int64_data_size(); break;
    case TP::UINT32: case TP::UINT64: values = p.uint64_data_size(); break;
    case TP::INT32: case TP::INT16: case TP::INT8: case TP::UINT16: case TP::UINT8: case TP::BOOL: case TP::FLOAT16:
    case TP::BFLOAT16: values = p.int32_data_size(); break;
    case TP::STRING: values = p.string_data_size(); break;
    default: return;  // an unknown type: tensor_from_proto refuses it where it is used
  }
  // ONNX's shape inference reads as many values as the dimensions say (a Reshape shape of
  // dims [6] holding 2 values crashed it: found by fuzz_model).
  const size_t numel = saturated_bytes(shape, 1);
  DPL_CHECK(numel <= static_cast<size_t>(INT32_MAX) && static_cast<size_t>(values) == numel * per_element,
            "tensor '{}' has {} values for shape {}", p.name(), values / per_element, shape_str(shape));
}

Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir) {
  DType dt = static_cast<DType>(p.data_type());
  DPL_CHECK(dtype_supported(dt), "tensor {} has element type {}, which the runtime does not support", p.name(),
            dtype_name(dt));
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    DPL_CHECK(d >= 0, "tensor '{}' has a negative dimension in shape {}", p.name(), shape_str(shape));
  // The declared dims are checked against the budget and against the data present before
  // anything is allocated: a tensor declaring 10^12 elements with no data is an error.
  const size_t want = saturated_bytes(shape, dtype_size(dt));
  if (want > tensor_budget_bytes())  // the message only when it is needed: every weight passes here
    check_tensor_budget(fmt::format("tensor '{}' ({} of shape {})", p.name(), dtype_name(dt), shape_str(shape)),
                        want);
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    const ExternalBytes b = sized_external_bytes(p, base_dir, want);
    // In place when aligned as the runtime's buffers are (our writer and onnx.save align
    // large tensors); else a copy.
    if (want > 0 && reinterpret_cast<uintptr_t>(b.data) % 64 == 0)
      return Tensor::view(dt, shape, std::shared_ptr<uint8_t>(b.file, const_cast<uint8_t*>(b.data)));
    Tensor t(dt, shape);
    if (want > 0) std::memcpy(t.raw(), b.data, want);
    return t;
  }
  // The data holds exactly the shape's elements, raw or in its typed field.
  check_data_size(p);
  if (p.has_raw_data()) {
    Tensor t(dt, shape);
    std::memcpy(t.raw(), p.raw_data().data(), want);
    return t;
  }
  Tensor t(dt, shape);
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
    default: break;
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
