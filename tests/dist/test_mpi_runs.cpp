// Distributed runs for real: `mpirun --oversubscribe -np K dipoorlet ... --mpirun` on the bundled
// example and on a shared model, against one process (docs/distributed.md "Equal results"):
// minmax and hist ranges identical bit for bit; OCTAV ranges, bias correction, BN update and
// profiling figures within 1e-6 relative (summation order only); reconstruction keeps its
// weights identical on every rank (the run checks and logs it) and still beats rounding to
// nearest. Then the bad input: -N below the ranks, ranks that read different models, a rank
// that dies. Skipped, visibly, where OpenMPI's mpirun is not installed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "cli_fixture.h"
#include "json_compare.h"
#include "graph/onnx_graph.h"
#include "shared_models.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

bool have_mpirun() { return std::system("command -v mpirun > /dev/null 2>&1") == 0; }

// --bind-to none: OpenMPI binds each of two ranks to one core by default.
std::string mpirun(int ranks) {
  return "mpirun --allow-run-as-root --oversubscribe --bind-to none -np " + std::to_string(ranks) + " ";
}

Json load_json(const fs::path& p) {
  std::ifstream f(p);
  EXPECT_TRUE(f.good()) << p << " is missing";
  return f.good() ? Json::parse(f) : Json();
}

// `file` of a run on several ranks against the one-process run's: numbers within 1e-6
// relative (tests/json_compare.h).
void expect_file_near(const fs::path& ranks, const fs::path& one, const std::string& file) {
  expect_json_near(load_json(ranks / file), load_json(one / file), ranks.filename().string() + "/" + file);
}

// The float initializers of two models with the same nodes: the largest relative difference
// between them and the share of values that differ at all.
struct WeightDiff {
  double max_rel = 0, share_differing = 0;
  int tensors = 0;
};
WeightDiff weight_diff(const fs::path& a, const fs::path& b) {
  const OnnxGraph x = OnnxGraph::load(a.string()), y = OnnxGraph::load(b.string());
  EXPECT_EQ(x.node_count(), y.node_count());
  WeightDiff d;
  int64_t all = 0, differ = 0;
  for (int i = 0; i < x.node_count(); ++i)
    for (const auto& in : x.node(i).input()) {
      if (in.empty() || !x.is_initializer(in)) continue;
      const Tensor s = x.get_initializer(in), t = y.get_initializer(in);
      if (s.dtype() != DType::F32) continue;
      EXPECT_EQ(s.numel(), t.numel()) << in;
      if (s.numel() != t.numel()) continue;
      for (int64_t k = 0; k < s.numel(); ++k) {
        const double u = s.data<float>()[k], v = t.data<float>()[k];
        if (u == v) continue;
        ++differ;
        d.max_rel = std::max(d.max_rel, std::fabs(u - v) / std::max(std::fabs(u), std::fabs(v)));
      }
      all += s.numel();
      ++d.tensors;
    }
  d.share_differing = all ? static_cast<double>(differ) / static_cast<double>(all) : 1.0;
  return d;
}

int count_of(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

class MpiRuns : public CliTest {
 protected:
  // Seven samples: shares of 4/3 and 3/2/2, so that uneven shares are covered.
  MpiRuns() : CliTest("dist_tests", 7, "-D trt --threads 1", 300) {}
  void SetUp() override {
    if (!have_mpirun()) GTEST_SKIP() << "mpirun is not installed (scripts/install_deps.sh installs openmpi-bin)";
    CliTest::SetUp();
  }
  // The example run by `ranks` processes (0: one process without MPI); returns the exit status.
  int run_ranks(int ranks, const std::string& out, const std::string& flags) {
    const std::string cmd = (ranks ? mpirun(ranks) : "") + dipoorlet_on_example(7) + " -D trt --threads 1 -O " +
                            quote((work_ / out).string()) + " " + flags + (ranks ? " --mpirun" : "");
    return run_command(cmd, work_ / (out + ".log"), 300);
  }
  std::string log_of(const std::string& out) { return read_whole_text(work_ / (out + ".log")); }
};

TEST_F(MpiRuns, MinmaxHistLpAndKlRangesEqualOneProcessBitForBit) {
  // Min/max and integer histogram counts reduce exactly, whatever the shares.
  for (const std::string algo : {"minmax", "hist", "lp", "kl"}) {
    ASSERT_EQ(run_ranks(0, algo + "1", "-A " + algo), 0) << read_text(work_ / (algo + "1.log"));
    const std::string want = read_whole_text(work_ / (algo + "1") / "act_clip_val.json");
    ASSERT_FALSE(want.empty());
    for (int k : algo == "minmax" || algo == "hist" ? std::vector<int>{1, 2, 3} : std::vector<int>{3}) {
      const std::string out = algo + "_np" + std::to_string(k);
      ASSERT_EQ(run_ranks(k, out, "-A " + algo), 0) << read_text(work_ / (out + ".log"));
      EXPECT_EQ(read_whole_text(work_ / out / "act_clip_val.json"), want) << algo << " with " << k << " ranks";
      EXPECT_EQ(read_whole_text(work_ / out / "weight_clip_val.json"),
                read_whole_text(work_ / (algo + "1") / "weight_clip_val.json"));
      if (k > 1) {
        EXPECT_NE(log_of(out).find("over " + std::to_string(k) + " ranks"), std::string::npos) << log_of(out);
      }
    }
  }
}

TEST_F(MpiRuns, OctavBiasCorrectionBnUpdateAndProfilingEqualOneProcessUpToRounding) {
  const std::string flags = "-A mse --bc --update_bn --keep_bn --sensitivity";
  ASSERT_EQ(run_ranks(0, "one", flags), 0) << read_text(work_ / "one.log");
  for (int k : {2, 3}) {
    const std::string out = "np" + std::to_string(k);
    ASSERT_EQ(run_ranks(k, out, flags), 0) << read_text(work_ / (out + ".log"));
    expect_file_near(work_ / out, work_ / "one", "act_clip_val.json");
    expect_file_near(work_ / out, work_ / "one", "layer_res.json");
    expect_file_near(work_ / out, work_ / "one", "model_res.json");
    // Sensitivity: the nodes are dealt to the ranks, each measured on the same samples.
    const Json s1 = load_json(work_ / "one" / "profile.json"), sk = load_json(work_ / out / "profile.json");
    ASSERT_TRUE(s1.contains("sensitivity") && s1["sensitivity"].is_object());
    expect_json_near(sk["sensitivity"]["nodes"], s1["sensitivity"]["nodes"], out + " sensitivity");
    EXPECT_EQ(s1["sensitivity"]["suggestion"]["added_skip_layers"], sk["sensitivity"]["suggestion"]["added_skip_layers"]);
    for (const char* model : {"update_bias_model.onnx", "update_bn_model.onnx"}) {
      const WeightDiff d = weight_diff(work_ / "one" / model, work_ / out / model);
      EXPECT_GT(d.tensors, 3) << model;
      EXPECT_LE(d.max_rel, 1e-6) << out << " " << model;
    }
    // Rank 0 alone writes: one log file.
    int logs = 0;
    for (const auto& e : fs::directory_iterator(work_ / out)) logs += e.path().filename().string().rfind("log-", 0) == 0;
    EXPECT_EQ(logs, 1);
  }
}

TEST_F(MpiRuns, OutputAwareRangesEqualOneProcessUpToRounding) {
  // -A output (the default) sums the consumers' output errors of every candidate range.
  ASSERT_EQ(run_ranks(0, "one", "-A output"), 0) << read_text(work_ / "one.log");
  ASSERT_EQ(run_ranks(2, "two", "-A output"), 0) << read_text(work_ / "two.log");
  expect_file_near(work_ / "two", work_ / "one", "act_clip_val.json");
}

TEST_F(MpiRuns, ReconstructionKeepsEveryRanksWeightsIdentical) {
  for (const std::string method : {"--adaround", "--brecq --drop", "--sparse"}) {
    const std::string out = "recon" + std::to_string(method.size());
    ASSERT_EQ(run_ranks(2, out, "-A minmax --w_bits 4 " + method + " --ada_iters 60"), 0)
        << method << "\n"
        << read_text(work_ / (out + ".log"));
    const std::string log = log_of(out);
    EXPECT_NE(log.find("weights and ranges identical on all 2 ranks"), std::string::npos) << method << "\n" << log;
  }
  // Batches of 32 hold all 7 samples, so two ranks train on the same global batches as one
  // process: the rounding learned is the same but for a few weights near a tie.
  ASSERT_EQ(run_ranks(0, "ada1", "-A minmax --w_bits 4 --adaround --ada_iters 60"), 0) << read_text(work_ / "ada1.log");
  ASSERT_EQ(run_ranks(2, "ada2", "-A minmax --w_bits 4 --adaround --ada_iters 60"), 0) << read_text(work_ / "ada2.log");
  const WeightDiff ada = weight_diff(work_ / "ada1" / "adaround.onnx", work_ / "ada2" / "adaround.onnx");
  EXPECT_GT(ada.tensors, 3);
  EXPECT_LT(ada.share_differing, 0.005);
  // A batch that cannot be shared by the ranks: one line.
  ASSERT_NE(run_ranks(3, "tiny_batch", "-A minmax --adaround --ada_bs 2 --ada_epoch 1"), 0);
  EXPECT_NE(log_of("tiny_batch").find("--ada_bs"), std::string::npos) << log_of("tiny_batch");
}

TEST_F(MpiRuns, FewerSamplesThanRanksIsOneClearLine) {
  const std::string cmd = mpirun(3) + dipoorlet_on_example(2) + " -D trt -O " + quote((work_ / "out").string()) +
                          " --mpirun";
  ASSERT_NE(run_command(cmd, work_ / "out.log", 120), 0);
  const std::string log = log_of("out");
  EXPECT_NE(log.find("fewer samples than the 3 ranks"), std::string::npos) << log;
  EXPECT_EQ(count_of(log, "error:"), 1) << log;
  EXPECT_FALSE(fs::exists(work_ / "out" / "quant_model.onnx"));
}

TEST_F(MpiRuns, ProcessesStartedByMpirunWithoutTheFlagStop) {
  // Without --mpirun each would run the whole job alone and write the same files.
  const std::string cmd = mpirun(2) + dipoorlet_on_example(7) + " -D trt -O " + quote((work_ / "out").string());
  ASSERT_NE(run_command(cmd, work_ / "out.log", 120), 0);
  const std::string log = log_of("out");
  EXPECT_NE(log.find("add --mpirun"), std::string::npos) << log;
  EXPECT_EQ(count_of(log, "error:"), 1) << log;  // rank 1 keeps quiet
  EXPECT_FALSE(fs::exists(work_ / "out"));
}

TEST_F(MpiRuns, RanksThatReadDifferentModelsAreNamed) {
  // Two programs in one job (mpirun's MPMD form): rank 1 reads a changed copy of the model.
  const fs::path other = work_ / "other.onnx";
  fs::copy_file(example_model(), other);
  {
    std::fstream f(other, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  const std::string tail = " -I " + quote(example_calib().string()) + " -N 7 -D trt -O " +
                           quote((work_ / "out").string()) + " --mpirun";
  const std::string cmd = mpirun(1) + quote(kDipoorlet.string()) + " -M " + quote(example_model().string()) + tail +
                          " : -np 1 " + quote(kDipoorlet.string()) + " -M " + quote(other.string()) + tail;
  ASSERT_NE(run_command(cmd, work_ / "out.log", 120), 0);
  const std::string log = log_of("out");
  EXPECT_NE(log.find("rank 1:"), std::string::npos) << log;
  EXPECT_NE(log.find(other.string()), std::string::npos) << log;
  EXPECT_EQ(count_of(log, "error:"), 1) << log;
}

TEST_F(MpiRuns, ARankThatDiesEndsTheWholeRun) {
  // Rank 1 exits at once; rank 0 must not wait for it forever (run_command's timeout: 124).
  const std::string cmd = mpirun(1) + dipoorlet_on_example(7) + " -D trt -O " + quote((work_ / "out").string()) +
                          " --mpirun : -np 1 sh -c 'exit 3'";
  const int rc = run_command(cmd, work_ / "out.log", 120);
  EXPECT_NE(rc, 0) << log_of("out");
  EXPECT_NE(rc, 124) << "the run hung after a rank died:\n" << log_of("out");
}

TEST_F(MpiRuns, SrunOnAPrivateOneNodeSlurmEqualsOneProcess) {
  // munged, slurmctld and slurmd started for this test alone, in a temporary folder, and
  // stopped after it (tests/dist/slurm_single_node.sh; exit 77 when they cannot run here).
  if (std::system("command -v slurmctld > /dev/null 2>&1 && command -v munged > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "Slurm is not installed (scripts/install_deps.sh installs slurm-wlm and munge)";
  const fs::path script = fs::path(DPL_SOURCE_DIR) / "tests" / "dist" / "slurm_single_node.sh";
  ASSERT_EQ(run_ranks(0, "one", "-A minmax"), 0) << read_text(work_ / "one.log");
  const std::string cmd = "env SLURM_SINGLE_NODE_CPUS=2 bash " + quote(script.string()) + " -t 240 -- srun -n 2 -O -K --mpi=pmix " +
                          dipoorlet_on_example(7) + " -D trt --threads 1 -A minmax -O " +
                          quote((work_ / "srun").string()) + " --slurm";
  const int rc = run_command(cmd, work_ / "srun.log", 300);
  if (rc == 77) GTEST_SKIP() << "the Slurm daemons cannot run here: " << read_text(work_ / "srun.log");
  ASSERT_EQ(rc, 0) << read_text(work_ / "srun.log");
  EXPECT_NE(log_of("srun").find("over 2 ranks"), std::string::npos) << log_of("srun");
  EXPECT_EQ(read_whole_text(work_ / "srun" / "act_clip_val.json"), read_whole_text(work_ / "one" / "act_clip_val.json"));
  // Without --mpi=pmix, Debian's OpenMPI cannot start under srun: the tasks fail, and none hangs.
  const std::string bad = "bash " + quote(script.string()) + " -t 120 -- srun -n 2 -O --mpi=none " +
                          dipoorlet_on_example(7) + " -D trt -O " + quote((work_ / "bad").string()) + " --slurm";
  const int rc_bad = run_command(bad, work_ / "bad.log", 200);
  EXPECT_NE(rc_bad, 0) << log_of("bad");
  EXPECT_NE(rc_bad, 124) << log_of("bad");
  // A task that dies before MPI starts: with -K the step ends instead of leaving task 0 in
  // MPI_Init (the script's own limit, 124, means it hung).
  const fs::path die = work_ / "die.sh";
  std::ofstream(die) << "#!/bin/sh\nif [ \"$SLURM_PROCID\" = 1 ]; then exit 3; fi\nexec " << dipoorlet_on_example(7)
                     << " -D trt -O " << quote((work_ / "die").string()) << " --slurm\n";
  fs::permissions(die, fs::perms::owner_all);
  const int rc_die = run_command("env SLURM_SINGLE_NODE_CPUS=2 bash " + quote(script.string()) +
                                     " -t 120 -- srun -n 2 -O -K --mpi=pmix " + quote(die.string()),
                                 work_ / "die.log", 200);
  EXPECT_NE(rc_die, 0) << log_of("die");
  EXPECT_NE(rc_die, 124) << "a task that died left the other waiting:\n" << log_of("die");
}

TEST(MpiRunsShared, YoloxNanoRangesAndProfilingEqualOneProcess) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun is not installed (scripts/install_deps.sh installs openmpi-bin)";
  const fs::path model = kSharedModels / "yolox-nano" / "yolox_nano.onnx";
  const fs::path images = kSharedModels / ".." / "data" / "imagenet-samples-200";
  if (!fs::exists(model)) GTEST_SKIP() << "shared model not present: " << model;
  if (!fs::exists(images)) GTEST_SKIP() << "shared images not present: " << images;
  const fs::path work = fs::path(DPL_BINARY_DIR) / "dist_tests" / "yolox";
  fs::remove_all(work);
  fs::create_directories(work);
  const std::string base = quote(kDipoorlet.string()) + " -M " + quote(model.string()) + " -I " +
                           quote(images.string()) + " -N 5 -D trt -A hist --threads 1 --resize letterbox";
  ASSERT_EQ(run_command(base + " -O " + quote((work / "one").string()), work / "one.log"), 0)
      << read_text(work / "one.log");
  ASSERT_EQ(run_command(mpirun(2) + base + " -O " + quote((work / "two").string()) + " --mpirun", work / "two.log"), 0)
      << read_text(work / "two.log");
  EXPECT_EQ(read_whole_text(work / "one" / "act_clip_val.json"), read_whole_text(work / "two" / "act_clip_val.json"));
  expect_file_near(work / "two", work / "one", "layer_res.json");
  expect_file_near(work / "two", work / "one", "model_res.json");
  fs::remove_all(work);
}

}  // namespace
}  // namespace dpl::test
