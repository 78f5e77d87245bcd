// Helpers shared by the shape and data-movement kernels (Concat, Slice, Transpose, Pad...).
// These ops only move bytes, so they work on element size, not element type: any type the
// runtime holds (and float16 storage) goes through the same code.
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "runtime/parallel.h"
#include "core/tensor.h"

namespace dpl::ops {

// Calls f(U{}) with U the unsigned integer type of `es` bytes (1, 2, 4 or 8).
template <typename F>
decltype(auto) dispatch_size(size_t es, F&& f) {
  switch (es) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: fail("unsupported element size {}", es);
  }
}

// Calls f(s, d) with src and dst viewed as arrays of the unsigned integer type of `es` bytes
// (for the kernels that move elements one at a time).
template <typename F>
void dispatch_size(size_t es, const void* src, void* dst, F&& f) {
  dispatch_size(es, [&](auto tag) {
    using U = decltype(tag);
    f(static_cast<const U*>(src), static_cast<U*>(dst));
  });
}

// Normalizes an axis in [-rank, rank); throws otherwise.
inline int norm_axis(int64_t axis, int rank, const char* what = "axis") {
  DPL_CHECK(axis >= -rank && axis < rank, "{} {} is out of range for a tensor of rank {}", what, axis, rank);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Values of a shape-like input (any integer type) as int64.
inline std::vector<int64_t> input_ints(const Tensor* t) { return t ? t->to_i64_vector() : std::vector<int64_t>{}; }

// Bytes per item below which loops stay on one thread (thread wake-up costs about this much).
constexpr int64_t kParallelBytes = 64 * 1024;

inline int64_t grain_for(int64_t bytes_per_item) {
  return bytes_per_item <= 0 ? kParallelBytes : std::max<int64_t>(1, kParallelBytes / bytes_per_item);
}

// memcpy split over threads for large blocks.
void parallel_memcpy(void* dst, const void* src, size_t bytes);
// fn(lo, hi) over [0, bytes) in 64 KiB chunks (a multiple of every element size), over threads.
void parallel_byte_chunks(size_t bytes, const std::function<void(size_t lo, size_t hi)>& fn);

// dst (contiguous, row-major over `shape`) receives the strided view of `src`:
//   dst[i_0, ..., i_n-1] = src[sum_d i_d * strides[d]]     (strides in elements)
// Strides may be zero (broadcast) or negative (reversed slices); `src` points at the view's
// element (0, ..., 0). Unit dims are dropped and contiguous dims merged first; then the copy
// runs as memcpy of contiguous runs, as blocked 2-D transposes when the source's unit-stride
// dim is not the innermost, or element by element. Parallel over the outer dims.
void strided_copy(void* dst, const void* src, Shape shape, std::vector<int64_t> strides, size_t es);

// Transpose of `in` by `perm` (output dim i is input dim perm[i]). Returns a tensor that
// shares the input buffer when the permutation only moves unit dims.
Tensor transpose_tensor(const Tensor& in, const std::vector<int64_t>& perm);

}  // namespace dpl::ops
