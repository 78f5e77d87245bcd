#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "util/error.h"

namespace dpl {

namespace {

// (path, inode, size, mtime): a file rewritten under the same name is a different key.
using FileKey = std::tuple<std::string, ino_t, off_t, int64_t>;

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
std::map<FileKey, std::weak_ptr<const MappedFile>>& cache() {
  static std::map<FileKey, std::weak_ptr<const MappedFile>> c;
  return c;
}

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  DPL_CHECK(fd >= 0, "cannot open {}: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{} is not a regular file", path);
  }
  const FileKey key{path, st.st_ino, st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto& slot = cache()[key];
  if (auto live = slot.lock()) {
    ::close(fd);
    return live;
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ > 0) {
    // Private and read-only: a stray write faults here instead of reaching the file or the
    // other tensors viewing it (Tensor copies a view before writing).
    void* p = mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    DPL_CHECK(p != MAP_FAILED, "cannot map {} ({} bytes): {}", path, m->size_, std::strerror(err));
    m->data_ = static_cast<const uint8_t*>(p);
  } else {
    ::close(fd);
  }
  slot = m;
  // Entries of mappings that are gone are dropped as new files come.
  for (auto it = cache().begin(); it != cache().end();) it = it->second.expired() ? cache().erase(it) : std::next(it);
  return m;
}

void release_mapped_pages(const void* p, size_t bytes) {
  const auto* b = static_cast<const uint8_t*>(p);
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  // Whole pages only: the neighbours of a tensor may be in use.
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(b) + page - 1) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(b) + bytes) / page * page;
  if (hi <= lo) return;
  std::lock_guard<std::mutex> lock(cache_mutex());
  for (const auto& [key, weak] : cache()) {
    const auto m = weak.lock();
    if (!m || !m->data()) continue;
    const auto start = reinterpret_cast<uintptr_t>(m->data());
    // Private, read-only and never written: dropped pages are read again from the file.
    if (lo >= start && hi <= start + m->size()) {
      madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
      return;
    }
  }
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace dpl
