// Temporary files under hard stops (io/temp_files.h, io/atomic_file.h; docs/reliability.md,
// "Hard stops"): SIGINT/SIGTERM in the middle of a write leave neither the temporary file nor
// a partial final file and still end the process by that signal; a write that hits the file
// size limit (a full disk) fails with one clear line and leaves nothing; temporary files of
// dead processes are swept, those of live ones kept. The signal cases run in death-test
// children (re-executed, "threadsafe").
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "cli_fixture.h"
#include "io/atomic_file.h"
#include "io/temp_files.h"
#include "util/error.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

class TempFiles : public CliTest {
 protected:
  TempFiles() : CliTest("io_tests/temp_files", 0) {}
  void SetUp() override {
    CliTest::SetUp();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
  std::vector<std::string> names() const {
    std::vector<std::string> r;
    for (const auto& e : fs::directory_iterator(work_)) r.push_back(e.path().filename().string());
    std::sort(r.begin(), r.end());
    return r;
  }
};

// The handlers leave an ignored signal alone, as the shell wants for a background job: a
// test binary started with `&` from a script (the sharded sanitizer run) inherits SIGINT
// ignored. The children reset the signal first, as a foreground `dipoorlet` finds it.
void default_disposition(int sig) { std::signal(sig, SIG_DFL); }

// A write under way when `sig` arrives: half of the data written, not committed.
[[noreturn]] void die_while_writing(const std::string& path, int sig) {
  default_disposition(sig);
  AtomicFile f(path);
  f.write(std::string(1 << 16, 'x'));
  std::raise(sig);
  std::_Exit(0);  // not reached: the signal ends the process
}

TEST_F(TempFiles, SigintAndSigtermRemoveTheTemporaryFileAndStillEndTheProcess) {
  for (int sig : {SIGINT, SIGTERM}) {
    const std::string path = (work_ / "model.onnx").string();
    EXPECT_EXIT(die_while_writing(path, sig), ::testing::KilledBySignal(sig), "");
    EXPECT_EQ(names(), std::vector<std::string>{}) << "signal " << sig;
  }
  // Control: without the signal the file lands complete.
  write_file_atomic((work_ / "done.json").string(), "{}\n");
  EXPECT_EQ(names(), std::vector<std::string>{"done.json"});
}

TEST_F(TempFiles, RegisteredFilesOfOtherWritersAreRemovedToo) {
  const fs::path spill = work_ / "spill.cache";
  EXPECT_EXIT(
      {
        default_disposition(SIGTERM);
        TempFileRegistration reg(spill.string());
        std::ofstream(spill) << "cached activations";
        std::raise(SIGTERM);
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGTERM), "");
  EXPECT_FALSE(fs::exists(spill));
}

// Writes 1 MB to `path` under a 64 KiB file size limit (RLIMIT_FSIZE stands for the full disk:
// write() fails with EFBIG, SIGXFSZ ignored). Exits 3 when the error is the one clear line
// expected, 4 for another error, 5 when the write succeeded.
[[noreturn]] void write_over_the_size_limit(const std::string& path) {
  struct rlimit lim {};
  lim.rlim_cur = lim.rlim_max = 64 << 10;
  ::setrlimit(RLIMIT_FSIZE, &lim);
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    write_file_atomic(path, std::string(1 << 20, 'q'));
  } catch (const Error& e) {
    const std::string what = e.what();
    std::fprintf(stderr, "%s\n", what.c_str());
    const bool clear = what.find("writing " + path + " failed: File too large") != std::string::npos &&
                       what.find('\n') == std::string::npos;
    std::_Exit(clear ? 3 : 4);
  }
  std::_Exit(5);
}

TEST_F(TempFiles, AFullDiskGivesOneClearErrorAndNoFile) {
  const std::string path = (work_ / "quant_model.onnx").string();
  EXPECT_EXIT(write_over_the_size_limit(path), ::testing::ExitedWithCode(3), "File too large");
  EXPECT_EQ(names(), std::vector<std::string>{});
}

TEST_F(TempFiles, StaleTemporaryFilesOfDeadProcessesAreSwept) {
  const pid_t child = ::fork();
  if (child == 0) std::_Exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);  // a process that no longer exists
  const std::string dead = std::to_string(child), alive = std::to_string(::getppid());
  for (const std::string& n : std::vector<std::string>{"a.json.tmp-" + dead, "b.onnx.tmp-" + alive, "c.onnx.tmp-" + std::to_string(::getpid()),
                               "notes.tmp-draft", "d.json"})
    std::ofstream(work_ / n) << "x";
  ensure_writable_dir(work_.string());
  EXPECT_EQ(names(), (std::vector<std::string>{"b.onnx.tmp-" + alive, "c.onnx.tmp-" + std::to_string(::getpid()),
                                               "d.json", "notes.tmp-draft"}));
}

}  // namespace
}  // namespace dpl::test
