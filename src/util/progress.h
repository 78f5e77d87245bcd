// A progress bar for loops over samples. On a terminal it redraws one line on stderr;
// elsewhere (CI, a pipe) it logs a line at every 10% so logs stay short. The final line
// (count and time) always goes to the log.
#pragma once
#include <chrono>
#include <string>

namespace dpl {

class Progress {
 public:
  Progress(std::string label, int total);
  ~Progress();
  // Samples done so far (monotonic).
  void update(int done);
  void finish();

 private:
  std::string label_;
  int total_, done_ = 0, last_decile_ = -1;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace dpl
