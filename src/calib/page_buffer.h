// Working memory straight from the OS (mmap) for the observers' long-lived buffers. The
// runtime keeps freed activations in the heap for reuse (runtime/tensor.cpp raises glibc's
// mmap and trim thresholds); a long-lived buffer allocated there between activations would
// split the heap's free space and raise the peak memory of every later run.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <new>

namespace dpl::calib {

template <typename T>
class PageBuffer {
 public:
  PageBuffer() = default;
  ~PageBuffer() { release(); }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  PageBuffer(PageBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  PageBuffer& operator=(PageBuffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = o.p_, n_ = o.n_;
      o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
  }

  // At least n elements; a new (zero-filled) mapping when it grows, so contents are kept
  // only while the size is not exceeded.
  T* ensure(size_t n) {
    if (n <= n_) return p_;
    release();
    void* m = mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    p_ = static_cast<T*>(m);
    n_ = n;
    return p_;
  }
  T* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  void release() {
    if (p_) munmap(p_, n_ * sizeof(T));
    p_ = nullptr, n_ = 0;
  }
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace dpl::calib
