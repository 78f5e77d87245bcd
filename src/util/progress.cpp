#include "util/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace dpl {

namespace {
bool g_shown = true;
}  // namespace

void set_progress_shown(bool shown) { g_shown = shown; }

Progress::Progress(std::string label, int total)
    : label_(std::move(label)), total_(total < 1 ? 1 : total), tty_(g_shown && ::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  if (!finished_ && tty_) std::fputc('\n', stderr);
}

void Progress::update(int done) {
  done_ = done > total_ ? total_ : done;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (tty_) {
    constexpr int kWidth = 30;
    int fill = done_ * kWidth / total_;
    std::fprintf(stderr, "\r%s [%.*s%*s] %d/%d %.1fs %s\x1b[K", label_.c_str(), fill,
                 "##############################", kWidth - fill, "", done_, total_, secs, note_.c_str());
    std::fflush(stderr);
    return;
  }
  int decile = done_ * 10 / total_;
  if (decile != last_decile_ && decile < 10) {
    last_decile_ = decile;
    spdlog::info("{}: {}/{} ({:.1f}s){}{}", label_, done_, total_, secs, note_.empty() ? "" : " ", note_);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (tty_) std::fputc('\n', stderr);
  spdlog::info("{}: {}/{} done in {:.2f}s", label_, done_, total_, secs);
}

void StagedProgress::update(const std::string& stage, int done, int total) {
  if (!bar_ || stage != stage_) {
    if (bar_) bar_->finish();
    bar_ = std::make_unique<Progress>(label_ + " (" + stage + ")", total);
    stage_ = stage;
  }
  bar_->update(done);
}

void StagedProgress::finish() {
  if (bar_) bar_->finish();
}

}  // namespace dpl
