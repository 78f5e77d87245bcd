// libgomp's default wait policy spins between parallel regions. When another process holds
// a core (a shared CI machine, a desktop), the spinning threads are preempted in the middle
// of oneDNN's barriers and multi-threaded runs become many times slower (measurements in
// docs/benchmarks.md). libgomp reads the policy when it loads, before main(), so
// the commands re-execute themselves once with OMP_WAIT_POLICY=passive unless the user chose
// a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT).
#pragma once

namespace dpl {

// Call first in main(). Returns only when no re-execution happened (or it failed).
void ensure_passive_omp_wait(char** argv);

}  // namespace dpl
