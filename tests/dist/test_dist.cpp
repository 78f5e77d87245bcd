// The pieces of distributed runs that need no MPI (docs/distributed.md): how samples are shared,
// reductions in rank order against one process over all samples, the data-parallel gradient
// arithmetic, collective checks and the launch checks. A two-rank communicator is faked: it
// plays rank 0 and hands back what "rank 1" contributes. The runs under mpirun are in
// test_mpi_runs.cpp.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <unistd.h>

#include "calib/observer_hist.h"
#include "calib/observer_minmax.h"
#include "calib/observer_octav.h"
#include "dist/agree.h"
#include "dist/launch.h"
#include "dist/rank_log.h"
#include "dist/reduce.h"
#include "dist/same_files.h"
#include "dist/share.h"
#include "profile/layer_stats.h"
#include "transform/channel_stats.h"
#include "transform/data_parallel.h"
#include "util/log.h"
#include "util/omp_env.h"

namespace dpl {
namespace {

// Rank 0 of two; "rank 1" contributes `other_bytes` to allgather and to what rank 0 receives,
// and `other` to sums.
class TwoRanks : public dist::Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int local_size() const override { return 2; }
  void sum(std::span<double> v) override {
    for (size_t i = 0; i < v.size(); ++i) v[i] += other_d.at(i);
  }
  void sum(std::span<float> v) override {
    for (size_t i = 0; i < v.size(); ++i) v[i] += other.at(i);
  }
  void max(std::span<double>) override {}
  std::vector<std::string> allgather(const std::string& bytes) override { return {bytes, other_bytes}; }
  void broadcast(std::string&, int) override {}
  void send(const std::string&, int) override { throw std::runtime_error("rank 0 sends nothing in a tree of two"); }
  std::string recv(int from) override {
    EXPECT_EQ(from, 1);
    return other_bytes;
  }
  void barrier() override {}
  [[noreturn]] void abort(int) override { throw std::runtime_error("abort"); }
  std::string other_bytes;
  std::vector<float> other;
  std::vector<double> other_d;
};

Tensor random_tensor(std::mt19937& rng, Shape shape, float scale) {
  std::normal_distribution<float> d(0.3f, scale);
  int64_t n = 1;
  for (auto s : shape) n *= s;
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return Tensor::from_vector<float>(shape, v);
}

// Seven samples of two tensors, shared 4/3 between two ranks.
struct Samples {
  std::vector<std::map<std::string, Tensor>> s;
  Samples() {
    std::mt19937 rng(7);
    for (int i = 0; i < 7; ++i)
      s.push_back({{"a", random_tensor(rng, {1, 3, 4, 4}, 1.0f + i)}, {"b", random_tensor(rng, {1, 8}, 0.5f)}});
  }
  void feed(Observer& o, int first, int n) const {
    for (int i = first; i < first + n; ++i)
      for (const auto& [name, t] : s[i]) o.observe(name, t, 1);
    o.end_pass();
  }
};

// One process over all samples vs. rank 0 over the first share reduced with rank 1's state.
template <typename Make>
void one_and_two(const Samples& d, Make make, Observer& one, Observer& two) {
  d.feed(one, 0, 7);
  auto rank1 = make();
  d.feed(*rank1, 4, 3);
  d.feed(two, 0, 4);
  TwoRanks comm;
  comm.other_bytes = rank1->serialize();
  dist::reduce_in_rank_order(comm, two);
}

// The two tensors' ranges, equal to the bit.
void expect_same_ranges(const ActRanges& a, const ActRanges& b) {
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (const auto& [name, r] : a) {
    EXPECT_EQ(r.lo, b.at(name).lo) << name;
    EXPECT_EQ(r.hi, b.at(name).hi) << name;
  }
}

TEST(DistShare, EverySampleOnceInRankOrder) {
  for (int64_t n = 0; n <= 23; ++n)
    for (int k = 1; k <= 5; ++k) {
      int64_t next = 0, lo = n, hi = 0;
      for (int r = 0; r < k; ++r) {
        const dist::Share s = dist::share_of(n, r, k);
        EXPECT_EQ(s.first, next) << n << " samples, rank " << r << " of " << k;
        next += s.count;
        lo = std::min(lo, s.count);
        hi = std::max(hi, s.count);
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(hi - lo, 1);
    }
}

TEST(DistReduce, MinMaxAndHistEqualOneProcessExactly) {
  const Samples d;
  MinMaxObserver one, two;
  one_and_two(d, [] { return std::make_unique<MinMaxObserver>(); }, one, two);
  expect_same_ranges(one.ranges(), two.ranges());
  // The histograms are taken over the reduced min/max, as calibration does.
  HistObserver h1(one, 64, 0.999), h2(two, 64, 0.999);
  one_and_two(d, [&] { return std::make_unique<HistObserver>(two, 64, 0.999); }, h1, h2);
  ASSERT_TRUE(h1.unresolved(0.999).empty());
  ASSERT_TRUE(h2.unresolved(0.999).empty());
  expect_same_ranges(h1.ranges(0.999), h2.ranges(0.999));
}

TEST(DistReduce, OctavClipsEqualOneProcessUpToRounding) {
  const Samples d;
  OctavObserver one, two;
  one_and_two(d, [] { return std::make_unique<OctavObserver>(); }, one, two);
  const ActRanges r1 = one.ranges(), r2 = two.ranges();
  ASSERT_EQ(r1.size(), 2u);
  for (const auto& [name, r] : r1) {
    EXPECT_NEAR(r.lo, r2.at(name).lo, 1e-6 * std::fabs(r.lo)) << name;
    EXPECT_NEAR(r.hi, r2.at(name).hi, 1e-6 * std::fabs(r.hi)) << name;
  }
}

TEST(DistReduce, ChannelStatsMovingAveragesKeepTheSampleOrder) {
  // BN update's moving averages depend on the order of the samples: rank 1's come after rank 0's.
  const Samples d;
  transform::ChannelStatsObserver one({"a"}, 0.9), two({"a"}, 0.9);
  one_and_two(d, [] { return std::make_unique<transform::ChannelStatsObserver>(std::vector<std::string>{"a"}, 0.9); },
              one, two);
  const auto &a = one.stats("a"), &b = two.stats("a");
  EXPECT_EQ(a.samples, 7);
  EXPECT_EQ(b.samples, 7);
  EXPECT_EQ(a.count, b.count);
  ASSERT_EQ(a.ema_mean.size(), 3u);
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(a.ema_mean[c], b.ema_mean[c], 1e-12 * std::fabs(a.ema_mean[c]) + 1e-15) << c;
    EXPECT_NEAR(a.ema_var[c], b.ema_var[c], 1e-12 * std::fabs(a.ema_var[c])) << c;
    EXPECT_NEAR(a.sum[c], b.sum[c], 1e-12 * std::fabs(a.sum[c]) + 1e-12) << c;
    EXPECT_EQ(a.min[c], b.min[c]) << c;
  }
}

TEST(DistReduce, ErrorStatsBytesMergeLikeTheStatsThemselves) {
  ErrorStats x, y, merged;
  x.add_sample({2.0, 3.0, 2.0, 0.5, 10});
  y.add_sample({-1.0, 1.0, 4.0, 6.0, 10});
  y.add_sample({1.0, 1.0, 1.0, 0.0, 10});
  merged = x;
  merged.merge(y);
  ErrorStats viaBytes = x;
  viaBytes.merge_serialized(y.serialize());
  EXPECT_EQ(viaBytes.serialize(), merged.serialize());
  EXPECT_EQ(viaBytes.samples(), 3);
  EXPECT_DOUBLE_EQ(viaBytes.min_cosine(), merged.min_cosine());
  EXPECT_THROW(viaBytes.merge_serialized("short"), Error);
}

TEST(DistDataParallel, GradientsAreTheGlobalBatchMeanWeightedByRows) {
  TwoRanks comm;
  comm.other_d = {5};  // rank 1 holds 5 samples
  transform::DataParallel dp(comm, 7, 5);
  EXPECT_EQ(dp.samples(), 12);
  EXPECT_EQ(dp.local_batch(), 3);  // 5 rows: 3 here, 2 on rank 1
  EXPECT_EQ(dp.batches_per_epoch(), 3);
  // Rank 0: mean gradient (1, 2) and loss 4 over 3 rows; rank 1: (4, -1) and loss 1 over 2 rows.
  std::vector<float> g = {1, 2};
  comm.other = {4 * 2, -1 * 2, 1 * 2, 2};
  int64_t rows = 0;
  const double loss = dp.reduce({std::span<float>(g)}, 4.0, 3, &rows);
  EXPECT_EQ(rows, 5);
  EXPECT_FLOAT_EQ(g[0], (1 * 3 + 4 * 2) / 5.0f);
  EXPECT_FLOAT_EQ(g[1], (2 * 3 - 1 * 2) / 5.0f);
  EXPECT_NEAR(loss, (4 * 3 + 1 * 2) / 5.0, 1e-6);
  // A figure averaged over each rank's samples: (0.5 * 7 + x * 5) / 12, rank 1 adds x * 5 = 2.
  comm.other_d = {2.0};
  EXPECT_DOUBLE_EQ(dp.mean(0.5), (0.5 * 7 + 2.0) / 12);
  // One process: the identity.
  transform::DataParallel solo(dist::local_comm(), 7, 5);
  std::vector<float> h = {1, 2};
  EXPECT_EQ(solo.reduce({std::span<float>(h)}, 4.0, 3), 4.0);
  EXPECT_EQ(h, (std::vector<float>{1, 2}));
  EXPECT_EQ(solo.local_batch(), 5);
  EXPECT_EQ(solo.seed(11), 11u);
}

TEST(DistDataParallel, BatchSmallerThanTheRanksIsRefused) {
  TwoRanks comm;
  comm.other_d = {5};
  try {
    transform::DataParallel dp(comm, 7, 1);
    FAIL() << "a batch of 1 over 2 ranks was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--ada_bs"), std::string::npos) << e.what();
  }
}

TEST(DistAgree, EveryRankLearnsTheFirstFailure) {
  TwoRanks comm;
  comm.other_bytes = "1the data folder is missing";
  try {
    dist::agree(comm, [] {});
    FAIL() << "rank 1's failure was not seen by rank 0";
  } catch (const dist::AgreedError& e) {
    EXPECT_STREQ(e.what(), "rank 1: the data folder is missing");
  }
  comm.other_bytes = "0";
  EXPECT_NO_THROW(dist::agree(comm, [] {}));
  try {
    dist::agree(comm, [] { throw Error("bad -N"); });
    FAIL();
  } catch (const dist::AgreedError& e) {
    EXPECT_STREQ(e.what(), "bad -N");
  }
  // One process: the error itself, unchanged.
  EXPECT_THROW(dist::agree(dist::local_comm(), [] { throw Error("x"); }), Error);
}

TEST(DistRankLog, OtherRanksWarningsReachRankZeroOncePerMessage) {
  setup_console_logging();
  TwoRanks comm;
  dist::setup_rank_logging(comm);
  auto seen = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
  spdlog::default_logger()->sinks().push_back(seen);
  spdlog::warn("sample 3 holds NaN");
  // Rank 1 gave the same warning, one of its own twice, and nothing else.
  comm.other_bytes = std::string("sample 3 holds NaN") + '\0' + "rank-only trouble" + '\0' + "rank-only trouble" + '\0';
  dist::forward_warnings(comm);
  std::vector<std::string> lines;
  for (const auto& m : seen->last_raw()) lines.emplace_back(m.payload.data(), m.payload.size());
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), seen), sinks.end());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "sample 3 holds NaN");
  EXPECT_EQ(lines[1], "rank 1: rank-only trouble");
}

std::map<std::string, std::string> g_env;
const char* fake_env(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

void expect_launch_error(dist::Launcher l, const std::string& part) {
  try {
    dist::check_launcher(l, fake_env);
    ADD_FAILURE() << "accepted without a launcher";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(DistLaunch, FlagsWithoutTheirLauncherSayHowToLaunch) {
  g_env.clear();
  expect_launch_error(dist::Launcher::Mpirun, "mpirun -np K");
  expect_launch_error(dist::Launcher::Slurm, "srun -n K");
  g_env["OMPI_COMM_WORLD_SIZE"] = "2";
  EXPECT_NO_THROW(dist::check_launcher(dist::Launcher::Mpirun, fake_env));
  g_env["SLURM_PROCID"] = "1";
  expect_launch_error(dist::Launcher::Slurm, "SLURM_NTASKS");
  g_env["SLURM_NTASKS"] = "two";
  expect_launch_error(dist::Launcher::Slurm, "SLURM_NTASKS");
  g_env["SLURM_NTASKS"] = "2";
  EXPECT_NO_THROW(dist::check_launcher(dist::Launcher::Slurm, fake_env));
  EXPECT_NO_THROW(dist::check_launcher(dist::Launcher::None, fake_env));
  g_env.clear();
}

TEST(DistLaunch, ProcessesOfALauncherWithoutTheFlagAreStopped) {
  g_env.clear();
  EXPECT_EQ(dist::launcher_rank(fake_env), -1);
  EXPECT_NO_THROW(dist::check_not_forgotten(dist::Launcher::None, fake_env));
  g_env["OMPI_COMM_WORLD_SIZE"] = "1";
  EXPECT_NO_THROW(dist::check_not_forgotten(dist::Launcher::None, fake_env));  // mpirun -np 1: one process
  g_env["OMPI_COMM_WORLD_SIZE"] = "3";
  g_env["OMPI_COMM_WORLD_RANK"] = "2";
  EXPECT_EQ(dist::launcher_rank(fake_env), 2);
  EXPECT_THROW(dist::check_not_forgotten(dist::Launcher::None, fake_env), Error);
  EXPECT_NO_THROW(dist::check_not_forgotten(dist::Launcher::Mpirun, fake_env));
  g_env.clear();
  g_env["PMIX_RANK"] = "1";
  g_env["SLURM_STEP_NUM_TASKS"] = "2";
  EXPECT_EQ(dist::launcher_rank(fake_env), 1);
  try {
    dist::check_not_forgotten(dist::Launcher::None, fake_env);
    ADD_FAILURE() << "srun's tasks without --slurm were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--slurm"), std::string::npos) << e.what();
  }
  g_env.clear();
}

TEST(DistLaunch, ThreadsBeyondTheRanksCpusAreWarnedAbout) {
  EXPECT_EQ(dist::threads_warning(2, 2), "");
  EXPECT_NE(dist::threads_warning(4, 1).find("--bind-to none"), std::string::npos);
  EXPECT_GE(dist::default_threads(dist::local_comm()), 1);
  EXPECT_LE(dist::default_threads(dist::local_comm()), usable_cpus());
}

TEST(DistSameFiles, ChecksumIsFnv1aOfTheBytes) {
  const auto p = std::filesystem::temp_directory_path() / ("dpl_fnv_" + std::to_string(::getpid()));
  std::ofstream(p) << "abc";
  EXPECT_EQ(dist::file_checksum(p.string()), 0xe16801510db89efdULL);
  std::filesystem::remove(p);
  EXPECT_THROW(dist::file_checksum(p.string()), Error);
}

}  // namespace
}  // namespace dpl
