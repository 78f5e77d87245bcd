// A progress bar for loops over samples. On a terminal it redraws one line on stderr;
// elsewhere (CI, a pipe) it logs a line at every 10% so logs stay short. The final line
// (count and time) always goes to the log. StagedProgress: one such bar per stage of a
// multi-pass computation (calibration's "Minmax update" then "Hist update", ...).
#pragma once
#include <chrono>
#include <memory>
#include <string>

namespace dpl {

// False: no bar is drawn on the terminal (the ranks of a distributed run other than rank 0,
// whose log lines are dropped too: dist/rank_log.h).
void set_progress_shown(bool shown);

class Progress {
 public:
  Progress(std::string label, int total);
  ~Progress();
  // Samples done so far (monotonic).
  void update(int done);
  // A short status shown after the count from the next update on (a training loop's loss).
  void set_note(std::string note) { note_ = std::move(note); }
  void finish();

 private:
  std::string label_, note_;
  int total_, done_ = 0, last_decile_ = -1;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

// Progress through named stages: a new stage finishes the previous bar and starts one
// labelled "<label> (<stage>)".
class StagedProgress {
 public:
  explicit StagedProgress(std::string label) : label_(std::move(label)) {}
  void update(const std::string& stage, int done, int total);
  void finish();

 private:
  std::string label_, stage_;
  std::unique_ptr<Progress> bar_;
};

}  // namespace dpl
