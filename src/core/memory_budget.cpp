#include "core/memory_budget.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <limits>

#include "util/error.h"

namespace dpl {

namespace {

constexpr size_t kMiB = size_t{1} << 20;

std::atomic<size_t> g_budget{0};  // 0: the default

// The cgroup (v2, then v1) memory limit of this process, or SIZE_MAX when there is none.
size_t cgroup_limit() {
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream f(path);
    unsigned long long v = 0;
    if (f >> v && v > 0) return static_cast<size_t>(v);
  }
  return std::numeric_limits<size_t>::max();
}

std::string mib_str(size_t bytes) {
  return bytes == std::numeric_limits<size_t>::max() ? std::string("more than 2^64 bytes")
                                                     : std::to_string((bytes + kMiB - 1) / kMiB) + " MB";
}

}  // namespace

size_t default_tensor_budget_bytes() {
  static const size_t value = [] {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    size_t mem = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : size_t{8} << 30;
    mem = std::min(mem, cgroup_limit());
    return std::max(mem / 2, size_t{1} << 30);
  }();
  return value;
}

size_t tensor_budget_bytes() {
  const size_t b = g_budget.load(std::memory_order_relaxed);
  return b ? b : default_tensor_budget_bytes();
}

void set_tensor_budget_bytes(size_t bytes) { g_budget.store(bytes, std::memory_order_relaxed); }

size_t saturated_bytes(const std::vector<int64_t>& dims, size_t elem_size) {
  constexpr size_t kMax = std::numeric_limits<size_t>::max();
  for (int64_t d : dims)
    if (d == 0) return 0;
  size_t n = elem_size;
  for (int64_t d : dims) {
    if (d <= 1) continue;
    const auto u = static_cast<size_t>(d);
    if (n > kMax / u) return kMax;
    n *= u;
  }
  return n;
}

void check_tensor_budget(const std::string& what, size_t bytes) {
  const size_t budget = tensor_budget_bytes();
  DPL_CHECK(bytes <= budget, "{} needs {}, over the limit of {} per tensor (--max_tensor_mb)", what, mib_str(bytes),
            mib_str(budget));
}

}  // namespace dpl
