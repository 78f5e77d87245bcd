// Hard stops (docs/reliability.md, "Hard stops"): `dipoorlet` on the bundled example is
// killed with SIGKILL at 24 moments spread over its run and interrupted with SIGINT/SIGTERM
// at four more; afterwards every file of the output folder is complete (each .onnx loads and
// passes the ONNX checker, each JSON/YAML parses, every other file has the size of a complete
// run's) or absent, and after SIGINT/SIGTERM no temporary file is left. A run whose output
// files may not exceed a size below the QDQ model's (RLIMIT_FSIZE: a full disk) fails with one
// clear line and leaves no partial file. The moments come from gtest's random seed (printed;
// --gtest_random_seed=N repeats a run).
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli_fixture.h"
#include "graph/onnx_graph.h"

extern char** environ;

namespace dpl::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kSamples = 4;

class HardStops : public CliTest {
 protected:
  HardStops() : CliTest("reliability_tests/hard_stops", kSamples) {}

  // The command's arguments: every kind of output file (QDQ and QOP models, range and
  // profile JSON, deploy YAML and JSON, report HTML, per-sample FP32 outputs).
  std::vector<std::string> args(const fs::path& out) const {
    std::vector<std::string> a{kDipoorlet.string(), "-M", example_model().string(), "-I", example_calib().string(),
                               "-N", std::to_string(kSamples), "-A", "minmax", "-D", "rv", "--quant_format", "QOP",
                               "--savefp", "-O", out.string()};
    a.insert(a.end(), extra_.begin(), extra_.end());
    return a;
  }
  std::vector<std::string> extra_;  // more flags

  // Starts dipoorlet writing into `out` (console in <out>.log); `fsize_limit` > 0 caps the
  // size of any file it writes, SIGXFSZ ignored so that the write fails instead.
  pid_t start(const fs::path& out, rlim_t fsize_limit = 0) const {
    std::vector<std::string> a = args(out);
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    const std::string log = out.string() + ".log";
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) ::dup2(fd, 1), ::dup2(fd, 2);
      if (fsize_limit) {
        struct rlimit lim {fsize_limit, fsize_limit};
        ::setrlimit(RLIMIT_FSIZE, &lim);
        ::signal(SIGXFSZ, SIG_IGN);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  }

  static int wait_for(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  }

  // Every regular file under `dir`, by path relative to it, with its size.
  static std::map<std::string, uintmax_t> files(const fs::path& dir) {
    std::map<std::string, uintmax_t> r;
    if (!fs::exists(dir)) return r;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) r[fs::relative(e.path(), dir).string()] = e.file_size();
    return r;
  }

  // Checks that every file of `dir` is complete; temporary files are allowed when
  // `temps_allowed` (after SIGKILL). Returns how many complete files there were.
  int check_complete(const fs::path& dir, bool temps_allowed, const std::string& when) const {
    int complete = 0;
    for (const auto& [rel, size] : files(dir)) {
      const fs::path p = dir / rel;
      const std::string name = p.filename().string();
      if (name.find(".tmp-") != std::string::npos) {
        EXPECT_TRUE(temps_allowed) << when << ": temporary file left: " << rel;
        continue;
      }
      if (name.rfind("log-", 0) == 0) continue;  // the log grows line by line (docs/reliability.md)
      ++complete;
      auto ref = reference_.find(rel);
      EXPECT_NE(ref, reference_.end()) << when << ": " << rel << " is not a file of a complete run";
      const std::string ext = p.extension().string();
      try {
        if (ext == ".onnx") {
          OnnxGraph::load(p.string());
          onnx::checker::check_model(p.string());  // external data looked for beside it
        } else if (ext == ".json") {
          std::ifstream f(p);
          const auto j = nlohmann::json::parse(f);
          EXPECT_FALSE(j.is_discarded()) << when << ": " << rel;
        } else if (ext == ".yaml") {
          EXPECT_TRUE(YAML::LoadFile(p.string()).IsDefined()) << when << ": " << rel;
        } else if (ext == ".html") {
          const std::string text = read_whole_text(p);
          EXPECT_NE(text.find("</html>"), std::string::npos) << when << ": " << rel << " is cut short";
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << when << ": " << rel << " is not complete: " << e.what();
      }
      if (ref != reference_.end() && ext != ".html" && ext != ".json") {  // reports and JSON carry times
        EXPECT_EQ(size, ref->second) << when << ": " << rel << " differs in size from a complete run's";
      }
    }
    return complete;
  }

  void expect_full_disk_refused(const std::string& victim, const std::vector<std::string>& absent);

  std::map<std::string, uintmax_t> reference_;
};

TEST_F(HardStops, KilledAtAnyMomentEveryFileIsCompleteOrAbsent) {
  // A complete run: its files and how long it takes.
  const auto t0 = Clock::now();
  const int status = wait_for(start(work_ / "full"));
  const double run_s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text(work_ / "full.log");
  reference_ = files(work_ / "full");
  for (const char* f : {"quant_model.onnx", "qop_model.onnx", "act_clip_val.json", "rv_quantized_param.yaml"})
    ASSERT_TRUE(reference_.count(f)) << f << " not written by a complete run";
  check_complete(work_ / "full", false, "complete run");

  const unsigned seed = static_cast<unsigned>(::testing::UnitTest::GetInstance()->random_seed());
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::printf("complete run %.2f s; kill moments from seed %u\n", run_s, seed);
  // 24 SIGKILLs, one in each 24th of the run's length (a little beyond it too, in case this
  // run is slower); then SIGINT and SIGTERM twice each in the second half.
  std::vector<std::pair<int, double>> stops;
  constexpr int kKills = 24;
  for (int i = 0; i < kKills; ++i) stops.push_back({SIGKILL, run_s * 1.05 * (i + u(rng)) / kKills});
  for (int sig : {SIGINT, SIGTERM, SIGINT, SIGTERM}) stops.push_back({sig, run_s * (0.4 + 0.55 * u(rng))});
  int with_files = 0;
  for (size_t k = 0; k < stops.size(); ++k) {
    const auto [sig, at] = stops[k];
    const fs::path out = work_ / ("stop" + std::to_string(k));
    const pid_t pid = start(out);
    std::this_thread::sleep_for(std::chrono::duration<double>(at));
    ::kill(pid, sig);
    const int st = wait_for(pid);
    const std::string when = "signal " + std::to_string(sig) + " at " + std::to_string(at) + " s";
    if (sig != SIGKILL && WIFSIGNALED(st)) {
      EXPECT_EQ(WTERMSIG(st), sig) << when << ": the process must end by the signal it got";
    }
    if (check_complete(out, sig == SIGKILL, when) > 0) ++with_files;
    if (!HasFailure()) fs::remove_all(out);
  }
  std::printf("%d of %zu stopped runs had written some files\n", with_files, stops.size());
}

// A complete run, then one whose files may be as large as the largest JSON but not as large
// as `victim`: it must fail on `victim` with one clear line and leave none of `absent`.
void HardStops::expect_full_disk_refused(const std::string& victim, const std::vector<std::string>& absent) {
  ASSERT_EQ(wait_for(start(work_ / "full")), 0) << read_text(work_ / "full.log");
  reference_ = files(work_ / "full");
  ASSERT_TRUE(reference_.count(victim)) << "a complete run wrote no " << victim;
  uintmax_t limit = 0;
  for (const auto& [rel, size] : reference_)
    if (rel.find(".json") != std::string::npos || rel.find("log-") == 0) limit = std::max(limit, size);
  const uintmax_t victim_size = reference_.at(victim);
  ASSERT_LT(limit, victim_size) << victim << " is not the example's largest file";
  const int status = wait_for(start(work_ / "full_disk", static_cast<rlim_t>((limit + victim_size) / 2)));
  ASSERT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string log = read_text(work_ / "full_disk.log");
  EXPECT_NE(log.find("error: writing " + (work_ / "full_disk" / victim).string() + " failed: File too large"),
            std::string::npos)
      << log;
  for (const auto& f : absent) EXPECT_FALSE(fs::exists(work_ / "full_disk" / f)) << f;
  check_complete(work_ / "full_disk", false, "full disk");
}

TEST_F(HardStops, AFullDiskGivesOneClearErrorAndNoPartialFile) {
  expect_full_disk_refused("quant_model.onnx", {"quant_model.onnx"});
}

// The same with --external_data (docs/external_data.md): the weights' file is the one that
// cannot be written; neither it nor the model that would name it is left.
TEST_F(HardStops, AFullDiskWhileWritingExternalDataLeavesNoModel) {
  extra_ = {"--external_data"};
  expect_full_disk_refused("quant_model.onnx.data", {"quant_model.onnx.data", "quant_model.onnx"});
}

}  // namespace
}  // namespace dpl::test
