#include "runtime/parallel.h"

namespace dpl {

namespace {
int g_threads = 1;
}

void set_num_threads(int n) {
  g_threads = n < 1 ? 1 : n;
  omp_set_num_threads(g_threads);  // oneDNN's OpenMP runtime reads this too
}

int num_threads() { return g_threads; }

}  // namespace dpl
