#include "core/tensor.h"

#include <malloc.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "core/memory_budget.h"

namespace dpl {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  // A model may declare any dimensions: a count that wraps would size a buffer too small.
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n)) fail("shape {} has more elements than a 64-bit count holds", shape_str(s));
  return n;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

std::vector<int64_t> shape_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

namespace {
// glibc serves blocks over its mmap threshold (32 MB at most) with a fresh mmap each time,
// and every page of it faults again on first touch: a 39 MB activation cost 53 ms to
// allocate and touch against 3 ms to fill. Activations of the same sizes come back every
// batch, so keep them in the heap instead.
const bool kHeapTuned = [] {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}();
}  // namespace

void release_free_heap() { malloc_trim(0); }

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  DPL_CHECK(dtype_supported(dtype), "element type {} is not supported by the runtime", dtype_name(dtype));
  for (int64_t d : shape_) DPL_CHECK(d >= 0, "negative dimension in shape {}", shape_str(shape_));
  if (const size_t want = saturated_bytes(shape_, dtype_size(dtype)); want > tensor_budget_bytes())
    check_tensor_budget(fmt::format("a {} tensor of shape {}", dtype_name(dtype), shape_str(shape_)), want);
  numel_ = shape_numel(shape_);
  DPL_CHECK(numel_ <= INT64_MAX / static_cast<int64_t>(dtype_size(dtype)), "a tensor of shape {} ({}) has more bytes "
            "than memory can address", shape_str(shape_), dtype_name(dtype));
  // Always allocate at least 64 bytes so raw() is never null, even for empty tensors.
  size_t n = (bytes() + 63) / 64 * 64;
  if (n == 0) n = 64;
  void* p = std::aligned_alloc(64, n);
  DPL_CHECK(p != nullptr, "out of memory allocating {} bytes for a tensor of shape {}", n, shape_str(shape_));
  buf_ = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

Tensor Tensor::view(DType dtype, Shape shape, std::shared_ptr<uint8_t> data) {
  DPL_CHECK(dtype_supported(dtype), "element type {} is not supported by the runtime", dtype_name(dtype));
  DPL_CHECK(data != nullptr && reinterpret_cast<uintptr_t>(data.get()) % 64 == 0,
            "a tensor view needs 64-byte aligned data");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = shape_numel(t.shape_);
  t.buf_ = std::move(data);
  t.view_ = true;
  return t;
}

void Tensor::detach() {
  Tensor own(dtype_, shape_);
  std::memcpy(own.buf_.get(), buf_.get(), bytes());
  buf_ = std::move(own.buf_);
  view_ = false;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  std::memset(t.raw(), 0, t.bytes());
  return t;
}

int64_t Tensor::dim(int axis) const {
  int r = rank();
  if (axis < 0) axis += r;
  DPL_CHECK(axis >= 0 && axis < r, "axis {} out of range for rank {}", axis, r);
  return shape_[axis];
}

Tensor Tensor::reshaped(Shape shape) const {
  DPL_CHECK(shape_numel(shape) == numel_, "cannot reshape {} to {}", shape_str(shape_), shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor t(dtype_, shape_);
  std::memcpy(t.raw(), raw(), bytes());
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t count) const {
  DPL_CHECK(rank() > 0 && begin >= 0 && count >= 0 && begin + count <= shape_[0],
            "rows [{}, {}) out of range for shape {}", begin, begin + count, shape_str(shape_));
  Shape s = shape_;
  s[0] = count;
  Tensor t(dtype_, s);
  const size_t row = shape_[0] ? bytes() / shape_[0] : 0;
  std::memcpy(t.raw(), static_cast<const uint8_t*>(raw()) + begin * row, count * row);
  return t;
}

Tensor Tensor::concat_rows(const std::vector<Tensor>& parts) {
  DPL_CHECK(!parts.empty(), "concat_rows of nothing");
  Shape s = parts[0].shape();
  DPL_CHECK(!s.empty(), "concat_rows of scalars");
  s[0] = 0;
  for (const auto& p : parts) {
    DPL_CHECK(p.dtype() == parts[0].dtype() && p.rank() == parts[0].rank(), "concat_rows: mismatched parts");
    s[0] += p.dim(0);
  }
  Tensor t(parts[0].dtype(), s);
  size_t off = 0;
  for (const auto& p : parts) {
    std::memcpy(static_cast<uint8_t*>(t.raw()) + off, p.raw(), p.bytes());
    off += p.bytes();
  }
  return t;
}

void Tensor::check_type(DType want) const {
  // F16 data is stored and accessed as uint16_t.
  if (dtype_ == want || (dtype_ == DType::F16 && want == DType::U16)) return;
  fail("tensor holds {} but was read as {}", dtype_name(dtype_), dtype_name(want));
}

double Tensor::at_f64(int64_t i) const {
  DPL_CHECK(i >= 0 && i < numel_, "element {} out of range ({} elements)", i, numel_);
  return dispatch_dtype(dtype_, [&](auto v) -> double {
    using T = decltype(v);
    return static_cast<double>(static_cast<const T*>(raw())[i]);
  });
}

int64_t Tensor::at_i64(int64_t i) const {
  DPL_CHECK(i >= 0 && i < numel_, "element {} out of range ({} elements)", i, numel_);
  return dispatch_dtype(dtype_, [&](auto v) -> int64_t {
    using T = decltype(v);
    const T x = static_cast<const T*>(raw())[i];
    // A float read as a shape, axis or index (a model may give one where ONNX wants int64):
    // a value no int64 holds is an error, not undefined behaviour (found by fuzz_model).
    if constexpr (std::is_floating_point_v<T>)
      DPL_CHECK(std::isfinite(x) && static_cast<double>(x) >= -9223372036854775808.0 &&
                    static_cast<double>(x) < 9223372036854775808.0,
                "the value {} is used as an integer (a shape, axis or index) and no 64-bit integer holds it",
                static_cast<double>(x));
    return static_cast<int64_t>(x);
  });
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  std::vector<int64_t> r(numel_);
  for (int64_t i = 0; i < numel_; ++i) r[i] = at_i64(i);
  return r;
}

std::vector<float> Tensor::to_f32_vector() const {
  std::vector<float> r(numel_);
  for (int64_t i = 0; i < numel_; ++i) r[i] = static_cast<float>(at_f64(i));
  return r;
}

}  // namespace dpl
