// Re-execution with a passive OpenMP wait policy (util/omp_env.h).
#include "util/omp_env.h"

#include <unistd.h>

#include <cstdlib>

namespace dpl {

void ensure_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::execv("/proc/self/exe", argv);
  // execv failed (no /proc): run on with libgomp's default policy.
}

}  // namespace dpl
