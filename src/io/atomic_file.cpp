#include "io/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "io/temp_files.h"
#include "util/error.h"

namespace dpl {

namespace fs = std::filesystem;

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = temp_name_for(path_);
  // Registered before it exists, so that SIGINT/SIGTERM at any moment removes it.
  slot_ = register_temp_file(tmp_);
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) {
    const int err = errno;
    unregister_temp_file(slot_);
    fail("cannot write {}: {}", path_, std::strerror(err));
  }
}

AtomicFile::~AtomicFile() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
  unregister_temp_file(slot_);
}

void AtomicFile::write(const void* data, size_t n) {
  DPL_CHECK(f_ != nullptr, "writing {} after it was committed", path_);
  if (n && std::fwrite(data, 1, n, f_) != n) fail("writing {} failed: {}", path_, std::strerror(errno));
}

void AtomicFile::write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

void AtomicFile::commit() {
  DPL_CHECK(f_ != nullptr, "{} committed twice", path_);
  bool ok = std::fflush(f_) == 0;
  int err = errno;
  if (std::fclose(f_) != 0 && ok) ok = false, err = errno;
  f_ = nullptr;
  if (!ok) {
    std::remove(tmp_.c_str());
    fail("writing {} failed: {}", path_, std::strerror(err));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    std::remove(tmp_.c_str());
    fail("cannot rename {} to {}: {}", tmp_, path_, std::strerror(errno));
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

void ensure_writable_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  DPL_CHECK(!ec && fs::is_directory(dir), "output folder {} cannot be created: {}", dir,
            ec ? ec.message() : "a file of that name exists");
  DPL_CHECK(::access(dir.c_str(), W_OK) == 0, "output folder {} is not writable", dir);
  remove_stale_temp_files(dir);  // of an earlier run killed with SIGKILL (io/temp_files.h)
}

}  // namespace dpl
