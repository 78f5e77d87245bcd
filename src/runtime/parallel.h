// Parallel loops for the runtime's own kernels (oneDNN brings its own). OpenMP, because
// Debian's oneDNN is built on the OpenMP runtime and one thread pool is better than two.
//
// The thread count is a property of the calling thread, not of the process: a Session sets
// it (ThreadCountScope) for as long as it builds its kernels or runs, and restores the
// caller's value afterwards. So two sessions with different counts in one process (the FP32
// and the quantized model side by side) and sessions on different threads keep their own,
// and kernels read it with num_threads() wherever they are called from.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace dpl {

// The calling thread's count (1 until set on this thread).
int num_threads();
// Sets the calling thread's count, and OpenMP's for this thread (oneDNN reads that one).
// Code outside a Session that runs kernels directly (tests, benchmarks) calls it.
void set_num_threads(int n);

// Sets the calling thread's count for its lifetime, restoring the previous one (and
// OpenMP's previous setting) on exit.
class ThreadCountScope {
 public:
  explicit ThreadCountScope(int n);
  ~ThreadCountScope();
  ThreadCountScope(const ThreadCountScope&) = delete;
  ThreadCountScope& operator=(const ThreadCountScope&) = delete;

 private:
  int previous_;
  int previous_omp_;
};

// Calls f(begin, end) over [0, n) split into one contiguous chunk per thread. Loops of at
// most `grain` items run on the calling thread (thread start-up costs more than they do).
template <typename F>
void parallel_for(int64_t n, F&& f, int64_t grain = 16384) {
  if (n <= 0) return;
  const int nt = num_threads();
  if (nt <= 1 || n <= grain) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t chunk = (n + T - 1) / T;
    const int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) f(b, e);
  }
}

}  // namespace dpl
