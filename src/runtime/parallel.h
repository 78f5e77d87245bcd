// Parallel loops for the runtime's own kernels (oneDNN brings its own). OpenMP, because
// Debian's oneDNN is built on the OpenMP runtime and one thread pool is better than two.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace dpl {

void set_num_threads(int n);
int num_threads();

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
