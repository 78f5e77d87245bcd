// Shared by the tests that compare this project's runtime with ONNX Runtime on the real models
// in ../shared/models (test_ort_parity.cpp: FP32 models; test_qdq_agreement.cpp and
// test_qop_agreement.cpp: the QDQ and QOP models `dipoorlet` writes): the model list with each
// model's real inputs (photographs with the documented preprocessing, MNIST digits, fixed
// values for the constant-weight onnx-light models), how a case starts (start_case(),
// AgreementTest), running the command-line tools, and the per-output cosine comparison.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "graph/onnx_graph.h"
#include "io/calib_data.h"
#include "io/image_preprocess.h"
#include "runtime/op_registry.h"

namespace dpl::test {

namespace parity_fs = std::filesystem;

inline const parity_fs::path kShared = parity_fs::path(DPL_SOURCE_DIR) / ".." / "shared";
inline const parity_fs::path kModels = kShared / "models";
inline const parity_fs::path kImages = kShared / "data" / "imagenet-samples-200";
inline const parity_fs::path kMnist = kShared / "data" / "mnist-test" / "t10k-images-idx3-ubyte.gz";
inline const parity_fs::path kOrtScript = parity_fs::path(DPL_SOURCE_DIR) / "tests" / "tools" / "ort_run.js";
inline const parity_fs::path kOrtPackage =
    parity_fs::path(DPL_SOURCE_DIR) / "tests" / "tools" / "node_modules" / "onnxruntime-node" / "package.json";
inline const parity_fs::path kInfer = parity_fs::path(DPL_BINARY_DIR) / "dipoorlet-infer";
inline const parity_fs::path kMakeExample = parity_fs::path(DPL_BINARY_DIR) / "make-example";
inline constexpr int kCommandTimeoutS = 400;

// Writes the inputs of `count` samples into dir/<input>/<i>.bin.
using InputMaker = std::function<void(const parity_fs::path& dir, const std::string& input, int count)>;

struct ParityCase {
  std::string name;
  std::string model;  // relative to ../shared/models; empty: the bundled example (make-example)
  int samples;
  std::vector<std::string> input_shapes;  // --input_shape flags for both runners
  InputMaker make_inputs;
  parity_fs::path data;  // shared data the inputs come from (empty: generated)
  // Also compare a few intermediate activations (made graph outputs in a copy of the model):
  // the onnx-light models have constant weights, so their final outputs are the same value
  // for every class and check little on their own.
  bool intermediates = false;
};

// gtest prints a failing case's parameter: its name, not its bytes.
inline void PrintTo(const ParityCase& c, std::ostream* os) { *os << c.name; }

// Photographs spread over the sample folder, preprocessed as the model expects.
inline InputMaker images(PreprocessOptions o) {
  return [o](const parity_fs::path& dir, const std::string& input, int count) {
    auto files = list_images(kImages.string());
    for (int i = 0; i < count; ++i) {
      const auto& f = files[(static_cast<size_t>(i) * 67 + 3) % files.size()];
      write_raw(sample_path(dir.string(), input, i), load_image_tensor(f, o));
    }
  };
}

inline PreprocessOptions pre(int h, int w, std::vector<float> mean, std::vector<float> std, bool bgr = false,
                             Layout layout = Layout::NCHW) {
  PreprocessOptions o;
  o.height = h;
  o.width = w;
  o.mean = std::move(mean);
  o.std = std::move(std);
  o.bgr = bgr;
  o.layout = layout;
  return o;
}

// The first `count` digits of the MNIST test set as (pixel - mean) / std floats [1,1,28,28].
inline void mnist_digits(const parity_fs::path& dir, const std::string& input, int count, float mean, float std) {
  gzFile f = gzopen(kMnist.string().c_str(), "rb");
  ASSERT_TRUE(f != nullptr) << "cannot open " << kMnist;
  unsigned char header[16];
  ASSERT_EQ(gzread(f, header, 16), 16);
  auto be32 = [&](int o) { return (header[o] << 24) | (header[o + 1] << 16) | (header[o + 2] << 8) | header[o + 3]; };
  ASSERT_EQ(be32(0), 2051) << "not an IDX image file";
  ASSERT_EQ(be32(8), 28);
  ASSERT_EQ(be32(12), 28);
  std::vector<unsigned char> px(28 * 28);
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(gzread(f, px.data(), static_cast<unsigned>(px.size())), static_cast<int>(px.size()));
    Tensor t(DType::F32, {1, 1, 28, 28});
    for (size_t k = 0; k < px.size(); ++k) t.data<float>()[k] = (px[k] - mean) / std;
    write_raw(sample_path(dir.string(), input, i), t);
  }
  gzclose(f);
}

// 0..255, as the MNIST model takes them.
inline void mnist_inputs(const parity_fs::path& dir, const std::string& input, int count) {
  mnist_digits(dir, input, count, 0.f, 1.f);
}

// Normalised as the fmnist-dev models expect ((x/255 - 0.2860) / 0.3530; MNIST digits stand in
// for Fashion-MNIST, which is not in ../shared).
inline void fmnist_style_inputs(const parity_fs::path& dir, const std::string& input, int count) {
  mnist_digits(dir, input, count, 0.2860f * 255.f, 0.3530f * 255.f);
}

// Fixed smooth values in [-2, 2] of shape [1,3,224,224] (the onnx-light models take any input).
inline void light_inputs(const parity_fs::path& dir, const std::string& input, int count) {
  for (int i = 0; i < count; ++i) {
    Tensor t(DType::F32, {1, 3, 224, 224});
    float* d = t.data<float>();
    for (int64_t k = 0; k < t.numel(); ++k)
      d[k] = static_cast<float>(1.5 * std::sin(0.0137 * k + i) + 0.5 * std::cos(0.91 * k));
    write_raw(sample_path(dir.string(), input, i), t);
  }
}

// The example's own calibration samples, written by make-example into <dir>/../example/calib.
inline void example_inputs(const parity_fs::path& dir, const std::string& input, int count) {
  for (int i = 0; i < count; ++i)
    parity_fs::copy_file(sample_path((dir.parent_path() / "example" / "calib").string(), input, i),
                         sample_path(dir.string(), input, i), parity_fs::copy_options::overwrite_existing);
}

inline const std::vector<float> kImagenetMean{123.675f, 116.28f, 103.53f}, kImagenetStd{58.395f, 57.12f, 57.375f};

// The bundled example first (needs no shared data), then every model of ../shared/models.
inline std::vector<ParityCase> all_parity_cases() {
  std::vector<ParityCase> c;
  c.push_back({"example_tiny_cnn", "", 8, {}, example_inputs, {}});
  PreprocessOptions yolox = pre(416, 416, {0}, {1}, true);
  yolox.resize = ResizeMode::Letterbox;
  yolox.align = LetterboxAlign::TopLeft;
  yolox.pad_value = 114;
  c.push_back({"yolox_nano", "yolox-nano/yolox_nano.onnx", 2, {}, images(yolox), kImages});
  c.push_back({"deeplabv3", "deeplabv3-tflite-mnv2/deeplab_v3_1_default_1.onnx", 2, {},
               images(pre(257, 257, {127.5f}, {127.5f}, false, Layout::NHWC)), kImages});
  c.push_back({"road_segmentation", "road-segmentation-adas-0001/model_float32.onnx", 2, {},
               images(pre(512, 896, {0}, {1}, true, Layout::NHWC)), kImages});
  c.push_back({"agllnet", "agllnet-lowlight-256/model_float32.onnx", 2, {}, images(pre(256, 256, {0}, {255})), kImages});
  c.push_back({"yunet", "yunet-face-120x160/face_detection_yunet_120x160.onnx", 2, {},
               images(pre(120, 160, {0}, {1}, true)), kImages});
  c.push_back({"mnist", "mnist-wonnx/opt-mnist.onnx", 3, {}, mnist_inputs, kMnist});
  c.push_back({"ppocr_det", "ppocr/ch_PP-OCRv4_det_infer.onnx", 2, {"x:1,3,640,640"},
               images(pre(640, 640, kImagenetMean, kImagenetStd)), kImages});
  c.push_back({"ppocr_rec", "ppocr/ch_PP-OCRv4_rec_infer.onnx", 2, {"x:1,3,48,320"},
               images(pre(48, 320, {127.5f}, {127.5f})), kImages});
  c.push_back({"ppocr_cls", "ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx", 2, {"x:1,3,48,192"},
               images(pre(48, 192, {127.5f}, {127.5f})), kImages});
  for (const char* m : {"bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
                        "squeezenet", "vgg19", "zfnet512"})
    c.push_back(
        {std::string("light_") + m, std::string("onnx-light/light_") + m + ".onnx", 1, {}, light_inputs, {}, true});
  return c;
}

// The transformers of ../shared/models (docs/transformers.md): the fmnist-dev ViT and PP-OCRv4 rec.
inline std::vector<ParityCase> transformer_parity_cases() {
  return {{"fmnist_vit", "fmnist-dev/vit_dev.onnx", 2, {"input:1,1,28,28"}, fmnist_style_inputs, kMnist},
          {"ppocr_rec", "ppocr/ch_PP-OCRv4_rec_infer.onnx", 2, {"x:1,3,48,320"},
           images(pre(48, 320, {127.5f}, {127.5f})), kImages}};
}

inline std::string quote(const std::string& s) {
  std::string r = "'";
  for (char ch : s) r += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return r + "'";
}

// Runs a shell command with its output in `log`; returns the exit status (124: timed out).
inline int run_command(const std::string& cmd, const parity_fs::path& log, int timeout_s = kCommandTimeoutS) {
  std::string full = "timeout " + std::to_string(timeout_s) + " " + cmd + " > " + quote(log.string()) + " 2>&1";
  int rc = std::system(full.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

// A file's whole text ("" when it cannot be read).
inline std::string read_whole_text(const parity_fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A file's text for a failure message (the last 4000 characters of a long one).
inline std::string read_text(const parity_fs::path& p) {
  std::string s = read_whole_text(p);
  return s.size() > 4000 ? "..." + s.substr(s.size() - 4000) : s;
}

inline std::vector<float> read_floats(const parity_fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<float> v(static_cast<size_t>(parity_fs::file_size(p)) / sizeof(float));
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

inline bool node_available() { return std::system("node --version > /dev/null 2>&1") == 0; }

// Operators (after the load sequence) the runtime does not register.
inline std::set<std::string> missing_ops(const OnnxGraph& g) {
  std::set<std::string> missing;
  for (const auto& n : g.graph().node()) {
    bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!std_domain) missing.insert(n.domain() + "::" + n.op_type());
    else if (!OpRegistry::instance().has(n.op_type())) missing.insert(n.op_type());
  }
  return missing;
}

// A copy of `model` in which activations at about 1/4, 1/2 and 3/4 of the network are also
// graph outputs (see ParityCase::intermediates). Fails the test when there are too few.
inline void add_intermediate_outputs(const parity_fs::path& model, const parity_fs::path& out) {
  OnnxGraph m = OnnxGraph::load(model.string());
  const std::set<std::string> kinds{"Conv", "Relu", "Concat", "MaxPool", "AveragePool", "Sum", "Add", "LRN"};
  std::vector<std::string> acts;
  for (const auto& n : m.graph().node())
    if (kinds.count(n.op_type()) && n.output_size() > 0) acts.push_back(n.output(0));
  ASSERT_GE(acts.size(), 4u) << "too few activations in " << model;
  for (size_t k = 1; k <= 3; ++k) m.add_network_output(acts[acts.size() * k / 4]);
  m.save(out.string());
}

// One output compared over all its samples: the cosine over all of them (a sample whose
// output is all but zero, e.g. a text detector's map of a photo without text, says nothing on
// its own), the worst single-sample cosine and the largest absolute difference (NaN when one
// side has a NaN where the other has a number).
struct OutputAgreement {
  double cosine = 1.0, worst_sample = 1.0, max_diff = 0.0;
  size_t elements = 0;
};

// Compares <a_dir>/<output>/<i>.bin with <b_dir>/<output>/<i>.bin for i < samples. Fails the
// test (fatally) when a file is missing or the sizes differ; a_name/b_name name the tools.
inline void compare_output_files(const parity_fs::path& a_dir, const parity_fs::path& b_dir, const std::string& out,
                                 int samples, const std::string& a_name, const std::string& b_name,
                                 OutputAgreement& r) {
  r = OutputAgreement{};
  double dot = 0, na = 0, nb = 0;
  for (int i = 0; i < samples; ++i) {
    const std::string file = file_safe_name(out) + "/" + std::to_string(i) + ".bin";
    ASSERT_TRUE(parity_fs::exists(a_dir / file)) << a_name << " wrote no " << a_dir / file;
    ASSERT_TRUE(parity_fs::exists(b_dir / file)) << b_name << " wrote no " << b_dir / file;
    auto a = read_floats(a_dir / file), b = read_floats(b_dir / file);
    ASSERT_EQ(a.size(), b.size()) << "output '" << out << "' sample " << i << ": " << a.size() << " values from "
                                  << a_name << ", " << b.size() << " from " << b_name;
    double sd = 0, sa = 0, sb = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      sd += double(a[k]) * b[k];
      sa += double(a[k]) * a[k];
      sb += double(b[k]) * b[k];
      double diff = std::fabs(double(a[k]) - b[k]);
      if (std::isnan(a[k]) != std::isnan(b[k])) diff = NAN;
      if (!(diff <= r.max_diff)) r.max_diff = diff;  // NaN sticks
    }
    double cos = (sa == 0 && sb == 0) ? 1.0 : sd / std::sqrt(sa * sb);
    if (!(cos >= r.worst_sample)) r.worst_sample = cos;
    dot += sd;
    na += sa;
    nb += sb;
    r.elements += a.size();
  }
  r.cosine = (na == 0 && nb == 0) ? 1.0 : dot / std::sqrt(na * nb);
}

// Generates the bundled example (tiny_cnn.onnx and `samples` calibration samples) into
// <dir>/example with make-example; a fatal test failure quoting its log when that fails.
inline void make_example_in(const parity_fs::path& dir, int samples) {
  const parity_fs::path log = dir / "example.log";
  const int rc = run_command(quote(kMakeExample.string()) + " " + quote((dir / "example").string()) + " " +
                                 std::to_string(samples),
                             log, 120);
  ASSERT_EQ(rc, 0) << "make-example failed:\n" << read_text(log);
}

inline const parity_fs::path kDipoorlet = parity_fs::path(DPL_BINARY_DIR) / "dipoorlet";

// Why a case of the parity or agreement suites cannot run here, or "" when it can: the shared
// model or data absent, node or onnxruntime-node not installed.
inline std::string case_skip_reason(const ParityCase& pc, const parity_fs::path& model) {
  if (!pc.model.empty() && !parity_fs::exists(model)) return "shared model not present: " + model.string();
  if (!node_available()) return "node is not installed (run scripts/install_deps.sh)";
  if (!parity_fs::exists(kOrtPackage))
    return "onnxruntime-node is not installed in tests/tools/node_modules (run scripts/install_deps.sh)";
  if (!pc.data.empty() && !parity_fs::exists(pc.data)) return "shared data not present: " + pc.data.string();
  return "";
}

// A model of all_parity_cases() quantized for one platform (the QDQ and QOP agreement suites).
struct PlatformCase {
  ParityCase model;
  std::string platform;
  std::string variant = {};  // a name for `flags` ("W4A4"); empty for the platform as it is
  std::string flags = {};    // more dipoorlet flags ("--w_bits 4 --a_bits 4")
  std::string id() const { return model.name + "_" + platform + (variant.empty() ? "" : "_" + variant); }
};

inline void PrintTo(const PlatformCase& c, std::ostream* os) { *os << c.id(); }

// gtest's name of a PlatformCase: <model>_<platform>[_<variant>].
inline std::string platform_case_name(const ::testing::TestParamInfo<PlatformCase>& info) { return info.param.id(); }

// What start_case() found: why the case is skipped ("" when it runs) and the model to run.
struct CaseStart {
  std::string skip;
  parity_fs::path run_model;
};

// How every parity and agreement case starts: skipped with the reason when it cannot run here
// (case_skip_reason); else each of `tools` must be built, `work` is emptied, the bundled
// example is generated there with `example_samples` samples when the case is the example, and
// the model to run is the case's model or, for the onnx-light models, a copy with
// intermediate outputs (ParityCase::intermediates: their final outputs are uniform). Use:
//   CaseStart start;
//   start_case(pc, work, samples, {kInfer}, start);
//   if (!start.skip.empty()) GTEST_SKIP() << start.skip;
//   if (HasFatalFailure()) return;
inline void start_case(const ParityCase& pc, const parity_fs::path& work, int example_samples,
                       const std::vector<parity_fs::path>& tools, CaseStart& start) {
  const parity_fs::path model = pc.model.empty() ? work / "example" / "tiny_cnn.onnx" : kModels / pc.model;
  start.skip = case_skip_reason(pc, model);
  if (!start.skip.empty()) return;
  for (const auto& tool : tools) ASSERT_TRUE(parity_fs::exists(tool)) << tool << " is not built";
  parity_fs::remove_all(work);
  parity_fs::create_directories(work);
  if (pc.model.empty()) {
    make_example_in(work, example_samples);
    if (::testing::Test::HasFatalFailure()) return;
  }
  start.run_model = model;
  if (pc.intermediates) {
    start.run_model = work / "model_with_intermediates.onnx";
    add_intermediate_outputs(model, start.run_model);
  }
}

// The fixture of the agreement suites, whose cases quantize a model of all_parity_cases() for
// one platform and compare runs of the result. SetUp starts the case (start_case(), with
// dipoorlet and dipoorlet-infer) in <build>/<suite_dir>/<model>_<platform>, or skips it with
// the reason. TearDown removes the work folder when the case passed (they reach gigabytes for
// the onnx-light models) and keeps it for diagnosis when it failed or when the environment
// variable `keep_env` is set.
class AgreementTest : public ::testing::TestWithParam<PlatformCase> {
 protected:
  AgreementTest(std::string suite_dir, int example_samples, const char* keep_env = nullptr)
      : suite_dir_(std::move(suite_dir)), example_samples_(example_samples), keep_env_(keep_env) {}

  void SetUp() override {
    const PlatformCase& c = GetParam();
    work_ = parity_fs::path(DPL_BINARY_DIR) / suite_dir_ / c.id();
    start_case(c.model, work_, example_samples_, {kDipoorlet, kInfer}, start_);
    if (!start_.skip.empty()) GTEST_SKIP() << start_.skip;
    started_ = true;
  }
  void TearDown() override {
    std::error_code ec;
    if (started_ && !HasFailure() && !(keep_env_ && std::getenv(keep_env_))) parity_fs::remove_all(work_, ec);
  }

  parity_fs::path work_;
  CaseStart start_;  // start_.run_model: the model to quantize

 private:
  std::string suite_dir_;
  int example_samples_;
  const char* keep_env_;
  bool started_ = false;
};

}  // namespace dpl::test
