// The `dipoorlet` command on bad input: the binary is run on the bundled example
// (make-example, so no ../shared is needed) with one thing wrong at a time. Where the
// run cannot go on: a non-zero exit, one line naming the problem (CLI11's usage errors add
// only its "Run with --help" hint), and no output file left behind (no quant_model.onnx,
// range files or "*.tmp-*" files). Where it can go on (a NaN sample, a skip_layers name that
// matches no node): exit 0 and a warning naming the culprit. At the end, input layouts users
// bring from elsewhere (scalar inputs, the original's nested folders) through both commands.
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "graph/model_builder.h"
#include "io/calib_data.h"
#include "io/image_preprocess.h"
#include "parity/parity_util.h"
#include "optimizer/prepare.h"
#include "runtime/session.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

const fs::path kDipoorlet = fs::path(DPL_BINARY_DIR) / "dipoorlet";
const fs::path kWork = fs::path(DPL_BINARY_DIR) / "cli_tests";
constexpr int kExampleSamples = 4;

struct CliResult {
  int rc = 0;
  std::string out;  // stdout and stderr together
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> r;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) r.push_back(l);
  return r;
}

// Lines that state a problem: everything but the progress/info log, warnings and CLI11's hint.
std::vector<std::string> problem_lines(const std::string& out) {
  std::vector<std::string> r;
  for (const auto& l : lines_of(out)) {
    if (l.find("] info: ") != std::string::npos || l.find("] warning: ") != std::string::npos) continue;
    if (l == "Run with --help for more information.") continue;
    r.push_back(l);
  }
  return r;
}

// Files anywhere under `dir` (empty when it does not exist).
std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> r;
  if (!fs::exists(dir)) return r;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) r.push_back(fs::relative(e.path(), dir).string());
  return r;
}

class DipoorletCli : public ::testing::Test {
 protected:
  // Each test gets its own folder and its own copy of the example (ctest runs tests in
  // parallel processes).
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kDipoorlet)) << kDipoorlet << " is not built";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    work_ = kWork / info->name();
    fs::remove_all(work_);
    fs::create_directories(work_);
    make_example_in(work_, kExampleSamples);
  }

  fs::path model() const { return work_ / "example" / "tiny_cnn.onnx"; }
  fs::path calib() const { return work_ / "example" / "calib"; }
  fs::path out_dir() const { return work_ / "out"; }

  // dipoorlet -M <example> -I <calib> -O <work>/out -A minmax --threads 1 <args>, where the
  // defaults can be replaced: pass "-M"/"-I"/"-O" in `args` to override.
  CliResult run(const std::vector<std::string>& args) {
    std::string cmd = quote(kDipoorlet.string());
    auto has = [&](const std::string& f) { return std::find(args.begin(), args.end(), f) != args.end(); };
    if (!has("-M")) cmd += " -M " + quote(model().string());
    if (!has("-I")) cmd += " -I " + quote(calib().string());
    if (!has("-O")) cmd += " -O " + quote(out_dir().string());
    cmd += " -A minmax --threads 1";
    for (const auto& a : args) cmd += " " + quote(a);
    const fs::path log = work_ / "console.txt";
    CliResult r;
    r.rc = run_command(cmd, log, 120);
    r.out = slurp(log);
    return r;
  }

  // A copy of the example's samples 0..n-1 in <work>/<name>/input/.
  fs::path copy_calib(const std::string& name, int n) {
    fs::path dir = work_ / name;
    fs::create_directories(dir / "input");
    for (int i = 0; i < n; ++i)
      fs::copy_file(sample_path(calib().string(), "input", i), sample_path(dir.string(), "input", i));
    return dir;
  }

  // Overwrites float `index` of a sample file with `value`.
  static void poke(const fs::path& file, int64_t index, float value) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(index * static_cast<int64_t>(sizeof(float)));
    f.write(reinterpret_cast<const char*>(&value), sizeof(float));
  }

  // A failed run: non-zero exit, exactly one line stating the problem, holding every needle.
  static void expect_clear_failure(const CliResult& r, const std::vector<std::string>& needles) {
    EXPECT_NE(r.rc, 0) << "the run should have failed:\n" << r.out;
    auto lines = problem_lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << "expected one line naming the problem, got:\n" << r.out;
    for (const auto& n : needles)
      EXPECT_NE(lines[0].find(n), std::string::npos) << "the error line does not mention '" << n << "': " << lines[0];
  }

  // Nothing but (possibly) the log file of the run in the output folder.
  void expect_no_outputs() const {
    for (const auto& f : files_under(out_dir())) {
      const bool log = f.rfind("log-", 0) == 0 && f.find('/') == std::string::npos;
      EXPECT_TRUE(log) << "a failed run left " << out_dir() / f;
    }
  }

  // The run's log file (the only log-*.txt in the output folder).
  std::string log_text() const {
    for (const auto& f : files_under(out_dir()))
      if (f.rfind("log-", 0) == 0) return slurp(out_dir() / f);
    ADD_FAILURE() << "no log file in " << out_dir();
    return "";
  }

  fs::path work_;
};

TEST_F(DipoorletCli, ExampleQuantizes) {
  // The baseline the other cases change one thing of.
  CliResult r = run({"-N", "2", "-D", "trt"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(problem_lines(r.out).empty()) << r.out;
  for (const char* f : {"quant_model.onnx", "act_clip_val.json", "weight_clip_val.json"})
    EXPECT_TRUE(fs::exists(out_dir() / f)) << f;
}

TEST_F(DipoorletCli, DataNumLargerThanTheFilesPresent) {
  CliResult r = run({"-N", "10", "-D", "trt"});
  expect_clear_failure(r, {"input/" + std::to_string(kExampleSamples) + ".bin", "missing", "10 samples"});
  expect_no_outputs();
}

TEST_F(DipoorletCli, NonFiniteSamplesAreSkippedWithAWarningNamingTheFile) {
  fs::path dir = copy_calib("calib_nan", kExampleSamples);
  poke(sample_path(dir.string(), "input", 1), 100, std::numeric_limits<float>::quiet_NaN());
  poke(sample_path(dir.string(), "input", 2), 7, std::numeric_limits<float>::infinity());
  CliResult r = run({"-I", dir.string(), "-N", std::to_string(kExampleSamples), "-D", "trt"});
  ASSERT_EQ(r.rc, 0) << "a NaN/Inf sample is skipped, the run goes on:\n" << r.out;
  EXPECT_TRUE(problem_lines(r.out).empty()) << r.out;
  for (int bad : {1, 2}) {
    bool warned = false;
    for (const auto& l : lines_of(r.out))
      warned |= l.find("] warning: ") != std::string::npos &&
                l.find(sample_path(dir.string(), "input", bad)) != std::string::npos;
    EXPECT_TRUE(warned) << "no warning naming sample " << bad << ":\n" << r.out;
    // Logged before the output folder is known; the log file gets it too.
    bool in_log = false;
    for (const auto& l : lines_of(log_text()))
      in_log |= l.find("warning: ") != std::string::npos &&
                l.find(sample_path(dir.string(), "input", bad)) != std::string::npos;
    EXPECT_TRUE(in_log) << "the log file lacks the warning naming sample " << bad << ":\n" << log_text();
  }
  EXPECT_NE(lines_of(log_text()).at(0).find("calib_nan"), std::string::npos)
      << "the arguments stay the log's first line";
  // Calibration ran on the two good samples.
  EXPECT_NE(log_text().find("2 samples"), std::string::npos) << log_text();
  EXPECT_TRUE(fs::exists(out_dir() / "quant_model.onnx"));
}

TEST_F(DipoorletCli, OnlyNonFiniteSamplesFail) {
  fs::path dir = copy_calib("calib_nan", 2);
  poke(sample_path(dir.string(), "input", 0), 0, std::numeric_limits<float>::quiet_NaN());
  poke(sample_path(dir.string(), "input", 1), 5, -std::numeric_limits<float>::infinity());
  CliResult r = run({"-I", dir.string(), "-N", "2", "-D", "trt"});
  expect_clear_failure(r, {"NaN or Inf", "nothing to calibrate"});
  expect_no_outputs();
}

TEST_F(DipoorletCli, UnknownDeployPlatform) {
  CliResult r = run({"-N", "2", "-D", "tensorrt"});
  expect_clear_failure(r, {"--deploy", "tensorrt"});
  expect_no_outputs();
}

TEST_F(DipoorletCli, SkipLayersNameMatchingNoNodeWarnsInTheLog) {
  CliResult r = run({"-N", "2", "-D", "trt", "--skip_layers", "no_such_node"});
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string log = log_text();
  auto first_line = lines_of(log).empty() ? std::string() : lines_of(log)[0];
  EXPECT_NE(first_line.find("--skip_layers no_such_node"), std::string::npos)
      << "the log's first line should be the arguments: " << first_line;
  bool warned = false;
  for (const auto& l : lines_of(log))
    warned |= l.find("] warning: ") != std::string::npos && l.find("'no_such_node'") != std::string::npos;
  EXPECT_TRUE(warned) << "no warning naming 'no_such_node' in the log:\n" << log;
  EXPECT_TRUE(fs::exists(out_dir() / "quant_model.onnx"));
}

TEST_F(DipoorletCli, OutputFolderUnderARegularFile) {
  const fs::path file = work_ / "a_file";
  std::ofstream(file) << "x";
  const fs::path out = file / "out";
  CliResult r = run({"-N", "2", "-D", "trt", "-O", out.string()});
  expect_clear_failure(r, {out.string(), "cannot be created"});
  EXPECT_EQ(slurp(file), "x");
  for (const auto& f : files_under(work_))
    EXPECT_EQ(f.find(".tmp-"), std::string::npos) << "left a temporary file " << f;
}

TEST_F(DipoorletCli, TruncatedModelFile) {
  const std::string bytes = slurp(model());
  const fs::path truncated = work_ / "truncated.onnx";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  CliResult r = run({"-N", "2", "-D", "trt", "-M", truncated.string()});
  expect_clear_failure(r, {truncated.string()});
  expect_no_outputs();
}

TEST_F(DipoorletCli, DistributedFlagsWithoutTheirLauncherSayHowToLaunch) {
  // The tests do not run under mpirun or srun: one line saying how to start the ranks.
  CliResult r = run({"-N", "2", "-D", "trt", "--mpirun"});
  expect_clear_failure(r, {"--mpirun", "mpirun -np"});
  expect_no_outputs();
  r = run({"-N", "2", "-D", "trt", "--slurm"});
  expect_clear_failure(r, {"--slurm", "srun"});
  expect_no_outputs();
  r = run({"-N", "2", "-D", "trt", "--slurm", "--mpirun"});
  expect_clear_failure(r, {"--slurm", "--mpirun"});
  expect_no_outputs();
}

TEST_F(DipoorletCli, AdaRoundWritesItsModelAndLogsEveryLayer) {
  CliResult r = run({"-N", "4", "-D", "trt", "--w_bits", "4", "--adaround", "--ada_iters", "30"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(fs::exists(out_dir() / "adaround.onnx"));
  EXPECT_TRUE(fs::exists(out_dir() / "quant_model.onnx"));
  int layers = 0;
  for (const auto& l : lines_of(r.out)) layers += l.find("(nearest -> learned)") != std::string::npos;
  EXPECT_GE(layers, 4) << r.out;  // the example's Conv layers and its Gemm
  for (const auto& f : files_under(out_dir()))
    EXPECT_EQ(f.find(".dipoorlet-cache"), std::string::npos) << "cache file left: " << f;
}

TEST_F(DipoorletCli, AdaRoundFlagsOutOfRange) {
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--adaround", "--ada_iters", "0"}), {"--ada_iters"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--adaround", "--ada_iters", "-5"}), {"--ada_iters"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--ada_iters", "10"}), {"--adaround"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--adaround", "--ada_iters", "10", "--ada_epoch", "2"}),
                       {"--ada_iters", "--ada_epoch"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--adaround", "--cache_mb", "0"}), {"--cache_mb"});
  expect_no_outputs();
}

TEST_F(DipoorletCli, BrecqAndQDropWriteBrecqOnnxAndListTheirBlocks) {
  for (bool drop : {false, true}) {
    SCOPED_TRACE(drop);
    std::vector<std::string> a = {"-N", "4", "-D", "trt", "--w_bits", "4", "--a_bits", "4", "--brecq", "--ada_iters", "20"};
    if (drop) a.push_back("--drop");
    CliResult r = run(a);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(fs::exists(out_dir() / "brecq.onnx"));
    EXPECT_TRUE(fs::exists(out_dir() / "quant_model.onnx"));
    int blocks = 0, listed = 0;
    for (const auto& l : lines_of(r.out)) {
      blocks += l.find("(nearest -> learned)") != std::string::npos;
      listed += l.find(" block: ") != std::string::npos && l.find("(in '") != std::string::npos;
    }
    EXPECT_GE(blocks, 2) << r.out;
    EXPECT_EQ(blocks, listed) << r.out;
    EXPECT_NE(r.out.find(drop ? "QDrop:" : "BRECQ:"), std::string::npos) << r.out;
  }
}

TEST_F(DipoorletCli, SparseWritesItsModelAndReportsSparsityInProfileJson) {
  CliResult r = run({"-N", "4", "-D", "trt", "--sparse", "--pattern", "nv24", "--ada_iters", "10"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(fs::exists(out_dir() / "sparse_quant.onnx"));
  std::ifstream f(out_dir() / "profile.json");
  const std::string json((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(json.find("\"sparsity\""), std::string::npos);
  EXPECT_NE(r.out.find("of their weights are 0"), std::string::npos) << r.out;
}

TEST_F(DipoorletCli, ReconstructionFlagCombinations) {
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--sparse", "--brecq"}), {"--sparse", "--brecq"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--sparse", "--adaround"}), {"--sparse", "--adaround"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--sparse", "--sparse_rate", "1.5"}), {"--sparse_rate"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--sparse", "--sparse_rate", "0"}), {"--sparse_rate"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--sparse_rate", "0.3"}), {"--sparse"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--brecq", "--drop_prob", "0.3"}), {"--drop_prob"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--brecq", "--drop", "--drop_prob", "0"}), {"--drop_prob"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--brecq", "--recon_blocks", "big"}), {"--recon_blocks"});
  expect_clear_failure(run({"-N", "2", "-D", "trt", "--sparse", "--pattern", "nv48"}), {"--pattern"});
  expect_no_outputs();
  // --drop alone: a warning that says what runs instead, never a silent no-op.
  CliResult r = run({"-N", "2", "-D", "trt", "--drop"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("--drop works with --brecq only"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no reconstruction runs"), std::string::npos) << r.out;
  EXPECT_NE(log_text().find("--drop works with --brecq only"), std::string::npos);  // in the log file too
  EXPECT_FALSE(fs::exists(out_dir() / "brecq.onnx"));
}

TEST_F(DipoorletCli, FailedModelWriteLeavesNoTemporaryFile) {
  // A folder in the way of quant_model.onnx: the final rename fails after calibration.
  fs::create_directories(out_dir() / "quant_model.onnx");
  CliResult r = run({"-N", "2", "-D", "trt"});
  expect_clear_failure(r, {"quant_model.onnx"});
  bool logged = false;
  for (const auto& l : lines_of(log_text()))
    logged |= l.find("error: ") != std::string::npos && l.find("quant_model.onnx") != std::string::npos;
  EXPECT_TRUE(logged) << "the log file lacks the error line:\n" << log_text();
  for (const auto& f : files_under(out_dir()))
    EXPECT_EQ(f.find(".tmp-"), std::string::npos) << "left a temporary file " << f;
}

// Three PNG photographs-to-be of different sizes (the example's input is [1,3,32,32]).
static std::vector<fs::path> write_pngs(const fs::path& dir) {
  fs::create_directories(dir);
  std::vector<fs::path> files;
  for (int k = 0; k < 3; ++k) {
    const int w = 40 + 7 * k, h = 30 + 5 * k;
    std::vector<unsigned char> px(static_cast<size_t>(w) * h * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * (13 + k) + k * 71) % 256);
    files.push_back(dir / ("img" + std::to_string(k) + ".png"));
    EXPECT_TRUE(stbi_write_png(files.back().string().c_str(), w, h, 3, px.data(), w * 3));
  }
  return files;
}

TEST_F(DipoorletCli, ImageFolderCalibratesLikeItsPreprocessedSamples) {
  // -I with images: the ranges must equal those of a run on the same images preprocessed
  // into the <input>/<i>.bin layout by the library's own preprocessing (checked against hand
  // values in tests/io).
  const auto files = write_pngs(work_ / "images");
  PreprocessOptions o;
  o.height = o.width = 32;
  o.mean = {123.675f, 116.28f, 103.53f};
  o.std = {58.395f, 57.12f, 57.375f};
  o.resize = ResizeMode::Letterbox;
  o.pad_value = 114;
  const fs::path bins = work_ / "bins";
  fs::create_directories(bins / "input");
  for (int i = 0; i < 3; ++i) write_raw(sample_path(bins.string(), "input", i), load_image_tensor(files[i].string(), o));

  CliResult from_images = run({"-I", (work_ / "images").string(), "-N", "3", "-D", "trt", "--mean",
                               "123.675,116.28,103.53", "--std", "58.395,57.12,57.375", "--resize", "letterbox",
                               "--pad_value", "114", "-O", (work_ / "out_images").string()});
  ASSERT_EQ(from_images.rc, 0) << from_images.out;
  EXPECT_NE(from_images.out.find("3 images"), std::string::npos) << from_images.out;
  CliResult from_bins = run({"-I", bins.string(), "-N", "3", "-D", "trt", "-O", (work_ / "out_bins").string()});
  ASSERT_EQ(from_bins.rc, 0) << from_bins.out;
  EXPECT_EQ(slurp(work_ / "out_images" / "act_clip_val.json"), slurp(work_ / "out_bins" / "act_clip_val.json"));
  EXPECT_TRUE(fs::exists(work_ / "out_images" / "quant_model.onnx"));
}

TEST_F(DipoorletCli, ImageFolderWithAFileThatIsNoImage) {
  write_pngs(work_ / "images");
  std::ofstream(work_ / "images" / "img1.png", std::ios::trunc) << "not a png";
  CliResult r = run({"-I", (work_ / "images").string(), "-N", "3", "-D", "trt"});
  expect_clear_failure(r, {"img1.png", "cannot decode"});
  expect_no_outputs();
}

TEST_F(DipoorletCli, ImageFolderWithFewerImagesThanAsked) {
  write_pngs(work_ / "images");
  CliResult r = run({"-I", (work_ / "images").string(), "-N", "5", "-D", "trt"});
  expect_clear_failure(r, {"5 calibration images", "holds 3"});
  expect_no_outputs();
}


// Inputs as users coming from the original tool or from ONNX test cases have them: a scalar
// input (one value per sample file) and an input named like Caffe2's gpu_0/data_0 with its
// samples in nested folders. Both commands run them, and dipoorlet-infer's outputs are
// the runtime's own on the same inputs.
class DipoorletCliInputs : public DipoorletCli {
 protected:
  // y = Conv(x) * s, or Relu(Conv(x)) without `scalar`; x [1,2,4,4] is named `x_name`.
  fs::path write_model(const std::string& x_name, bool scalar) {
    ModelBuilder b(13);
    b.input(x_name, {1, 2, 4, 4});
    if (scalar) b.input("s", {});
    b.init("w", random_tensor({2, 2, 1, 1}, 3, -1.f, 1.f));
    b.node("Conv", {x_name, "w"}, {"c"}, "conv").attr("kernel_shape", std::vector<int64_t>{1, 1});
    if (scalar)
      b.node("Mul", {"c", "s"}, {"y"}, "mul");
    else
      b.node("Relu", {"c"}, {"y"}, "relu");
    b.output("y");
    const fs::path path = work_ / (scalar ? "scalar.onnx" : "nested.onnx");
    b.graph().save(path.string());
    return path;
  }

  // Sample i of each input in <dir>/<folder>/<i>.bin.
  static void write_input(const fs::path& dir, const std::string& folder, const Shape& shape, int count) {
    fs::create_directories(dir / folder);
    for (int i = 0; i < count; ++i)
      write_raw((dir / folder / (std::to_string(i) + ".bin")).string(),
                random_tensor(shape, 50 + static_cast<uint64_t>(i), -1.f, 1.f));
  }

  // dipoorlet-infer on `count` samples; each output file equals a Session run on the inputs.
  void expect_infer_matches_runtime(const fs::path& model, const fs::path& inputs, const std::vector<InputSpec>& specs,
                                    int count, const std::string& extra = "") {
    const fs::path out = work_ / "infer_out";
    const std::string cmd = quote(kInfer.string()) + " -M " + quote(model.string()) + " -I " +
                            quote(inputs.string()) + " -N " + std::to_string(count) + " -O " + quote(out.string()) +
                            extra;
    const int rc = run_command(cmd, work_ / "infer.txt", 120);
    ASSERT_EQ(rc, 0) << slurp(work_ / "infer.txt");
    // The command's own set-up: prepared model, fused session.
    OnnxGraph g = OnnxGraph::load(model.string());
    prepare_model(g);
    SessionOptions so;
    so.fuse = true;
    Session session(g, so);
    for (int i = 0; i < count; ++i) {
      TensorMap feeds;
      for (const auto& s : specs) feeds[s.name] = read_sample(inputs.string(), s, i);
      const Tensor want = session.run(feeds).at("y");
      EXPECT_EQ(read_floats(out / "y" / (std::to_string(i) + ".bin")), want.to_f32_vector()) << "sample " << i;
    }
  }
};

TEST_F(DipoorletCliInputs, ScalarInputIsFedAsItIs) {
  const fs::path model = write_model("x", true);
  const fs::path data = work_ / "scalar_data";
  write_input(data, "x", {1, 2, 4, 4}, 3);
  write_input(data, "s", {}, 3);
  // A scalar has no batch dimension: --batch 2 runs one sample at a time, with a warning.
  CliResult r = run({"-M", model.string(), "-I", data.string(), "-N", "3", "-D", "trt", "--batch", "2"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(problem_lines(r.out).empty()) << r.out;
  EXPECT_NE(r.out.find("'s' is a scalar"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out_dir() / "quant_model.onnx"));
  expect_infer_matches_runtime(model, data, {{"x", {1, 2, 4, 4}, DType::F32}, {"s", {}, DType::F32}}, 3,
                               " --batch 2");
}

TEST_F(DipoorletCliInputs, NestedFoldersOfTheOriginalTool) {
  const fs::path model = write_model("gpu_0/data_0", false);
  const fs::path data = work_ / "nested_data";
  write_input(data, "gpu_0/data_0", {1, 2, 4, 4}, 3);
  ASSERT_FALSE(fs::exists(data / "gpu_0_data_0"));
  CliResult r = run({"-M", model.string(), "-I", data.string(), "-N", "3", "-D", "trt"});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(problem_lines(r.out).empty()) << r.out;
  EXPECT_TRUE(fs::exists(out_dir() / "quant_model.onnx"));
  expect_infer_matches_runtime(model, data, {{"gpu_0/data_0", {1, 2, 4, 4}, DType::F32}}, 3);
}

}  // namespace
}  // namespace dpl::test
