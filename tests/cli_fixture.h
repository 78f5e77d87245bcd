// One gtest fixture for the tests that drive the `dipoorlet` command on the bundled example
// (make-example, so no ../shared is needed): each test gets its own work folder (ctest runs
// tests in parallel processes), optionally a fresh copy of the example in it, and the folder
// is removed when the test passes and kept for diagnosis when it fails.
//
//   class DeployCli : public CliTest {
//    protected:
//     DeployCli() : CliTest("deploy_tests/cli", 4, "-A minmax", 120) {}
//   };
//   TEST_F(DeployCli, ...) { ASSERT_EQ(run_example("out", "-D trt"), 0) << read_text(work_ / "out.log"); }
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "parity/parity_util.h"

namespace dpl::test {

class CliTest : public ::testing::Test {
 protected:
  // `suite_dir`: the folder under the build folder that holds one work folder per test;
  // `example_samples`: > 0 makes the example with that many calibration samples before each
  // test, 0 leaves it to the tests that need one (make_example()); `run_flags` and
  // `run_timeout_s`: what run_example() adds to every run and how long one may take.
  CliTest(std::filesystem::path suite_dir, int example_samples, std::string run_flags = "",
          int run_timeout_s = kCommandTimeoutS)
      : suite_dir_(std::filesystem::path(DPL_BINARY_DIR) / std::move(suite_dir)),
        example_samples_(example_samples),
        run_flags_(std::move(run_flags)),
        run_timeout_s_(run_timeout_s) {}

  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kDipoorlet)) << kDipoorlet << " is not built";
    work_ = suite_dir_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(work_);
    std::filesystem::create_directories(work_);
    if (example_samples_ > 0) make_example(example_samples_);
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(work_);
  }

  // The bundled example with `samples` calibration samples, in <work>/example.
  void make_example(int samples) { make_example_in(work_, samples); }
  std::filesystem::path example_model() const { return work_ / "example" / "tiny_cnn.onnx"; }
  std::filesystem::path example_calib() const { return work_ / "example" / "calib"; }

  // "dipoorlet -M <example model> -I <example calib> -N <samples>", quoted, for the tests to
  // complete with their flags.
  std::string dipoorlet_on_example(int samples) const {
    return quote(kDipoorlet.string()) + " -M " + quote(example_model().string()) + " -I " +
           quote(example_calib().string()) + " -N " + std::to_string(samples);
  }

  // dipoorlet on the example (all its samples) with the suite's flags, then `flags`, output in
  // <work>/<out>, console in <work>/<out>.log; returns the exit status.
  int run_example(const std::string& out, const std::string& flags) {
    return run_command(dipoorlet_on_example(example_samples_) + " " + run_flags_ + " -O " +
                           quote((work_ / out).string()) + " " + flags,
                       work_ / (out + ".log"), run_timeout_s_);
  }

  const std::filesystem::path suite_dir_;
  std::filesystem::path work_;

 private:
  int example_samples_;
  std::string run_flags_;
  int run_timeout_s_;
};

}  // namespace dpl::test
