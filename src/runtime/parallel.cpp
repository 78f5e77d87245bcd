// The per-calling-thread thread count of runtime/parallel.h.
#include "runtime/parallel.h"

namespace dpl {

namespace {
thread_local int t_threads = 1;
}

int num_threads() { return t_threads; }

void set_num_threads(int n) {
  t_threads = n < 1 ? 1 : n;
  // OpenMP's setting is per calling thread too; oneDNN's primitives read it at execution.
  if (omp_get_max_threads() != t_threads) omp_set_num_threads(t_threads);
}

ThreadCountScope::ThreadCountScope(int n) : previous_(t_threads), previous_omp_(omp_get_max_threads()) {
  set_num_threads(n);
}

ThreadCountScope::~ThreadCountScope() {
  t_threads = previous_;
  if (omp_get_max_threads() != previous_omp_) omp_set_num_threads(previous_omp_);
}

}  // namespace dpl
