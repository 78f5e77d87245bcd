#include "io/temp_files.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace dpl {

namespace {

namespace fs = std::filesystem;

constexpr int kSlots = 256;
constexpr size_t kPathMax = 4096;
constexpr const char* kTempInfix = ".tmp-";

// A slot is free (0), being filled (1), holds a name the handler may unlink (2) or is held
// by the handler while it unlinks (3; never freed again: the process is ending).
struct Slot {
  std::atomic<int> state{0};
  char path[kPathMax];
};
Slot g_slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler reads the slots lock-free");

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void remove_temp_files_and_reraise(int sig) {
  const int saved = errno;
  for (Slot& s : g_slots) {
    int expected = 2;
    if (s.state.compare_exchange_strong(expected, 3, std::memory_order_acq_rel)) ::unlink(s.path);
  }
  // Die of the same signal, as the process would have without the handler.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  errno = saved;
  ::raise(sig);
}

void install_handlers() {
  for (int sig : kSignals) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0) continue;
    // A handler somebody else installed (or an ignored signal) is left alone.
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa {};
    sa.sa_handler = remove_temp_files_and_reraise;
    sigfillset(&sa.sa_mask);  // one handler at a time
    ::sigaction(sig, &sa, nullptr);
  }
}

}  // namespace

int register_temp_file(const std::string& path) {
  static std::once_flag once;
  std::call_once(once, install_handlers);
  if (path.size() + 1 > kPathMax) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(2, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_temp_file(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  int expected = 2;  // a slot the handler holds (3) stays held
  g_slots[slot].state.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
}

std::string temp_name_for(const std::string& path) { return path + kTempInfix + std::to_string(::getpid()); }

int remove_stale_temp_files(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(kTempInfix);
    if (at == std::string::npos || at == 0) continue;
    const char* first = name.data() + at + std::strlen(kTempInfix);
    const char* last = name.data() + name.size();
    long pid = 0;
    auto [end_ptr, err] = std::from_chars(first, last, pid);
    if (err != std::errc() || end_ptr != last || pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    std::error_code rm;
    if (it->is_regular_file(rm) && fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
}

}  // namespace dpl
