// The OpenMP wait policy, chosen from the machine's load. libgomp's threads spin between
// parallel regions by default; when other processes hold the cores (a shared CI machine, a
// desktop) the spinning threads are preempted in the middle of oneDNN's barriers and
// multi-threaded runs become many times slower, while on an idle machine spinning is the
// faster policy (measurements: docs/perf-notes.md, "OpenMP wait policy"). libgomp reads the
// policy when it loads, before main(), so a command that runs models with more than one
// thread samples the load (/proc/stat over a few tens of milliseconds) and re-executes
// itself once with OMP_WAIT_POLICY=active when its threads fit in the idle cores, passive
// otherwise. A policy the user chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT set) always wins.
#pragma once

namespace dpl {

// Call first in main(). Returns only when no re-execution happened (or it failed).
void choose_omp_wait_policy(char** argv);

// The CPUs this process may run on (its affinity mask; the online CPUs when it cannot be read).
int usable_cpus();

// The pieces, for tests. The thread count a command line asks for ("--threads N" or
// "--threads=N"; 1 when absent or unreadable).
int threads_from_args(char** argv);
// Idle cores from two /proc/stat "cpu" lines (user nice system idle iowait irq softirq
// steal ...) taken some time apart, over `cpus` CPUs (steal counts as busy); -1 when the
// lines cannot be read.
double idle_cores_between(const char* stat_before, const char* stat_after, int cpus);
// The policy for `threads` threads with `idle` idle cores: "active" when they fit.
const char* wait_policy_for(int threads, double idle);

}  // namespace dpl
