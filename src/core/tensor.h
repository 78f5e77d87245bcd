// A plain dense tensor: element type, shape, and a shared, 64-byte aligned buffer in
// row-major (C) order. Copies share the buffer (like ncnn's Mat); clone() copies data.
// A view (Tensor::view) reads memory it does not own, such as a weight in a mapped external
// data file: the first write through it copies the data into a buffer of its own, so a view
// behaves like a fresh tensor while nobody writes it (docs/external_data.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "util/error.h"

namespace dpl {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);
// Row-major strides in elements.
std::vector<int64_t> shape_strides(const Shape& s);

// Hands the heap's free pages back to the system. The heap keeps freed blocks (see
// tensor.cpp: activations of the same sizes come back every batch), which is right within a
// stage and wrong between stages: a finished session's packed weights would stay in the
// resident set while the next stage allocates its own. Called between pipeline stages.
void release_free_heap();

class Tensor {
 public:
  Tensor() = default;
  // Allocates numel elements, contents uninitialized.
  Tensor(DType dtype, Shape shape);

  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  template <typename T>
  static Tensor scalar(T v) { return from_vector<T>({}, {v}); }
  static Tensor zeros(DType dtype, Shape shape);
  // Reads `data` (64-byte aligned, numel elements of dtype) in place; `data` keeps its owner
  // alive (an aliasing shared_ptr). Copied on the first non-const access.
  static Tensor view(DType dtype, Shape shape, std::shared_ptr<uint8_t> data);

  bool defined() const { return dtype_ != DType::Undefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // dim(-1) is the last axis.
  int64_t dim(int axis) const;
  int64_t numel() const { return numel_; }
  size_t bytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw() {
    if (view_) [[unlikely]] detach();
    return buf_.get();
  }
  const void* raw() const { return buf_.get(); }
  template <typename T> T* data() { check_type(DTypeOf<T>::value); return static_cast<T*>(raw()); }
  template <typename T> const T* data() const { check_type(DTypeOf<T>::value); return static_cast<const T*>(raw()); }

  // Same buffer, new shape (numel must match).
  Tensor reshaped(Shape shape) const;
  Tensor clone() const;
  // Copy of rows [begin, begin + count) along axis 0.
  Tensor slice_rows(int64_t begin, int64_t count) const;
  // Stacks tensors of equal trailing shape along axis 0.
  static Tensor concat_rows(const std::vector<Tensor>& parts);
  // Reads element i converted to double / int64 (any numeric dtype); for shape-like inputs.
  double at_f64(int64_t i) const;
  int64_t at_i64(int64_t i) const;
  std::vector<int64_t> to_i64_vector() const;
  std::vector<float> to_f32_vector() const;
  // Shares the buffer: writes through one copy are seen through the other.
  bool shares_buffer_with(const Tensor& o) const { return buf_ && buf_ == o.buf_; }
  // Whether it still reads memory it does not own (nothing was written through it).
  bool is_view() const { return view_; }
  // Whether this is the only reference to its own buffer (no copy, reshape or view shares
  // it): then writing through it changes no other tensor's value.
  bool sole_owner() const { return buf_ && !view_ && buf_.use_count() == 1; }

 private:
  void check_type(DType want) const;
  // A view's copy on write.
  void detach();
  DType dtype_ = DType::Undefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<uint8_t> buf_;
  bool view_ = false;
};

template <typename T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  DPL_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "from_vector: {} values for shape {}",
            values.size(), shape_str(t.shape()));
  T* d = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) d[i] = values[i];
  return t;
}

}  // namespace dpl
