// The OpenMP wait policy from the load (src/util/omp_env.cpp): the thread count read from the
// command line, idle cores from two /proc/stat samples, and the rule "spin only while the
// threads fit in the idle cores".
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/omp_env.h"

namespace dpl::test {
namespace {

int threads_of(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return threads_from_args(argv.data());
}

TEST(OmpWaitPolicy, ThreadsFromTheCommandLine) {
  EXPECT_EQ(threads_of({"dipoorlet-infer", "-M", "m.onnx"}), 1);
  EXPECT_EQ(threads_of({"dipoorlet-infer", "--threads", "4", "-M", "m.onnx"}), 4);
  EXPECT_EQ(threads_of({"dipoorlet", "--threads=2"}), 2);
  EXPECT_EQ(threads_of({"dipoorlet", "--threads"}), 1);        // value missing: CLI11 reports it later
  EXPECT_EQ(threads_of({"dipoorlet", "--threads", "x"}), 1);   // not a number: likewise
}

TEST(OmpWaitPolicy, IdleCoresFromProcStat) {
  // 4 CPUs, 100 jiffies of wall time each between the samples = 400 in all.
  const char* before = "cpu  1000 0 500 8000 100 0 0 0 0 0";
  // 100 busy (user + system), 300 idle (idle + iowait): one core busy, three idle.
  EXPECT_NEAR(idle_cores_between(before, "cpu  1080 0 520 8290 110 0 0 0 0 0", 4), 3.0, 1e-9);
  // Steal time is busy (another VM holds the core).
  EXPECT_NEAR(idle_cores_between(before, "cpu  1000 0 500 8200 100 0 0 200 0 0", 4), 2.0, 1e-9);
  EXPECT_LT(idle_cores_between(before, "garbage", 4), 0);
  EXPECT_LT(idle_cores_between(before, before, 4), 0);  // no time passed
}

TEST(OmpWaitPolicy, SpinOnlyWhileThreadsFitInIdleCores) {
  EXPECT_STREQ(wait_policy_for(2, 2.0), "active");
  EXPECT_STREQ(wait_policy_for(2, 1.6), "active");   // a short burst elsewhere
  EXPECT_STREQ(wait_policy_for(2, 1.2), "passive");  // one core taken
  EXPECT_STREQ(wait_policy_for(4, 1.0), "passive");
  EXPECT_STREQ(wait_policy_for(2, -1), "passive");   // load unknown
}

}  // namespace
}  // namespace dpl::test
