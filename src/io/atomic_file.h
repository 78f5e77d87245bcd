// Output files are never left half-written: data goes to "<path>.tmp-<pid>" and is renamed
// over the final name only when complete. A failed or abandoned write removes the temp file,
// and so does SIGINT/SIGTERM (io/temp_files.h; docs/reliability.md, "Hard stops").
#pragma once
#include <cstdio>
#include <string>
#include <string_view>

namespace dpl {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary file unless commit() ran
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(std::string_view bytes);
  void write(const void* data, size_t n);
  void commit();

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  int slot_ = -1;  // io/temp_files.h registration
};

void write_file_atomic(const std::string& path, std::string_view bytes);
// Creates the folder (and parents), checks that a file can be written there and removes the
// temporary files a killed run left in it (io/temp_files.h).
void ensure_writable_dir(const std::string& dir);

}  // namespace dpl
