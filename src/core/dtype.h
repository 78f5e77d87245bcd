// Element types. The numeric values are ONNX's TensorProto.DataType values so that
// conversion to and from protobuf is a cast.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace dpl {

enum class DType : int32_t {
  Undefined = 0,
  F32 = 1,
  U8 = 2,
  I8 = 3,
  U16 = 4,
  I16 = 5,
  I32 = 6,
  I64 = 7,
  String = 8,
  Bool = 9,
  F16 = 10,
  F64 = 11,
  U32 = 12,
  U64 = 13,
};

// Bytes per element; 0 for types the runtime cannot hold (strings, complex, bfloat16...).
size_t dtype_size(DType t);
std::string dtype_name(DType t);
inline bool dtype_supported(DType t) { return dtype_size(t) != 0; }

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::U8; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::I8; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::U16; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::I16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::U32; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::U64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };

// Calls f(T{}) with T the C++ type of `t` (bool for Bool, uint16_t for F16 storage).
// Throws for types the runtime cannot hold.
template <typename F>
decltype(auto) dispatch_dtype(DType t, F&& f);

}  // namespace dpl

#include "core/dtype_dispatch.inl"
