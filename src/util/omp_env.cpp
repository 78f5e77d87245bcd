// The OpenMP wait policy from the load (util/omp_env.h).
#include "util/omp_env.h"

#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace dpl {

int threads_from_args(char** argv) {
  for (int i = 1; argv[i]; ++i) {
    const char* v = nullptr;
    if (std::strcmp(argv[i], "--threads") == 0) v = argv[i + 1];
    else if (std::strncmp(argv[i], "--threads=", 10) == 0) v = argv[i] + 10;
    if (!v) continue;
    const int n = std::atoi(v);
    return n >= 1 ? n : 1;
  }
  return 1;
}

namespace {

// Busy and total jiffies of a /proc/stat "cpu" line; false when it is not one.
bool parse_cpu_line(const char* line, double& busy, double& total) {
  unsigned long long f[8] = {};
  if (std::sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5],
                  &f[6], &f[7]) < 4)
    return false;
  total = 0;
  for (unsigned long long v : f) total += static_cast<double>(v);
  busy = total - static_cast<double>(f[3]) - static_cast<double>(f[4]);  // idle and iowait are idle
  return true;
}

std::string first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

}  // namespace

int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

double idle_cores_between(const char* stat_before, const char* stat_after, int cpus) {
  double b0, t0, b1, t1;
  if (!parse_cpu_line(stat_before, b0, t0) || !parse_cpu_line(stat_after, b1, t1) || t1 <= t0) return -1;
  const double busy_fraction = (b1 - b0) / (t1 - t0);
  return cpus * (1.0 - busy_fraction);
}

const char* wait_policy_for(int threads, double idle) {
  // Half a core of slack: a sampling window catches short bursts of other processes.
  return idle >= 0 && threads <= idle + 0.5 ? "active" : "passive";
}

void choose_omp_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  const int threads = threads_from_args(argv);
  if (threads <= 1) return;  // no thread team, nothing waits
  const std::string before = first_line("/proc/stat");
  usleep(50 * 1000);
  const std::string after = first_line("/proc/stat");
  // /proc/stat counts every CPU of the machine; the idle ones this process may use are
  // at most its affinity set.
  const int machine = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  double idle = idle_cores_between(before.c_str(), after.c_str(), machine > 0 ? machine : 1);
  if (idle > usable_cpus()) idle = usable_cpus();
  ::setenv("OMP_WAIT_POLICY", wait_policy_for(threads, idle), 1);
  ::execv("/proc/self/exe", argv);
  // execv failed (no /proc): run on with libgomp's default policy.
}

}  // namespace dpl
