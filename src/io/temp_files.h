// Temporary files that must not outlive an interrupted run (docs/reliability.md, "Hard
// stops"). A writer registers the temporary name before creating the file and withdraws it
// once the file is renamed into place or removed; on SIGINT, SIGTERM or SIGHUP a handler
// unlinks every registered name (unlink is async-signal-safe; the table is fixed-size and
// lock-free) and the signal then ends the process as it would have. SIGKILL cannot be caught:
// a killed run may leave "<name>.tmp-<pid>" files, never a partial file under a final name;
// remove_stale_temp_files() removes those of processes that no longer exist.
#pragma once
#include <string>

namespace dpl {

// Registers `path` (installing the handlers the first time, unless a signal already has a
// handler of its own). Returns a slot for unregister_temp_file, or -1 when the table is full
// (the file is then only removed by its writer).
int register_temp_file(const std::string& path);
void unregister_temp_file(int slot);

// RAII form: registers in the constructor, withdraws in the destructor.
class TempFileRegistration {
 public:
  explicit TempFileRegistration(const std::string& path) : slot_(register_temp_file(path)) {}
  ~TempFileRegistration() { unregister_temp_file(slot_); }
  TempFileRegistration(const TempFileRegistration&) = delete;
  TempFileRegistration& operator=(const TempFileRegistration&) = delete;

 private:
  int slot_;
};

// The temporary name AtomicFile writes `path` through: "<path>.tmp-<pid>".
std::string temp_name_for(const std::string& path);
// Removes "<name>.tmp-<pid>" files of `dir` whose process no longer runs (left by a run that
// was killed with SIGKILL). Returns how many went.
int remove_stale_temp_files(const std::string& dir);

}  // namespace dpl
