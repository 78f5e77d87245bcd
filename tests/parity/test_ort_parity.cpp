// FP32 parity with ONNX Runtime on the real models in ../shared/models: the same inputs
// (real photographs with each model's documented preprocessing, MNIST digits, fixed values
// for the constant-weight onnx-light models) go through `dipoorlet-infer` and through
// tests/tools/ort_run.js (onnxruntime-node), and every output must have a
// cosine similarity >= 0.99999 with ONNX Runtime's (over all samples of the output). Cosine and
// max |difference| are printed per output.
// Skipped, with the reason, when the shared models are absent, when node or onnxruntime-node
// is not installed (scripts/install_deps.sh installs both), or when the runtime lacks one
// of the model's operators.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include "graph/onnx_graph.h"
#include "io/calib_data.h"
#include "io/image_preprocess.h"
#include "runtime/op_registry.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

const fs::path kShared = fs::path(DPL_SOURCE_DIR) / ".." / "shared";
const fs::path kModels = kShared / "models";
const fs::path kImages = kShared / "data" / "imagenet-samples-200";
const fs::path kMnist = kShared / "data" / "mnist-test" / "t10k-images-idx3-ubyte.gz";
const fs::path kOrtScript = fs::path(DPL_SOURCE_DIR) / "tests" / "tools" / "ort_run.js";
const fs::path kOrtPackage =
    fs::path(DPL_SOURCE_DIR) / "tests" / "tools" / "node_modules" / "onnxruntime-node" / "package.json";
const fs::path kInfer = fs::path(DPL_BINARY_DIR) / "dipoorlet-infer";
const fs::path kMakeExample = fs::path(DPL_BINARY_DIR) / "make-example";
constexpr double kMinCosine = 0.99999;
constexpr int kThreads = 2;
constexpr int kCommandTimeoutS = 400;

// Writes the inputs of `count` samples into dir/<input>/<i>.bin.
using InputMaker = std::function<void(const fs::path& dir, const std::string& input, int count)>;

struct ParityCase {
  std::string name;
  std::string model;  // relative to ../shared/models; empty: the bundled example (make-example)
  int samples;
  std::vector<std::string> input_shapes;  // --input_shape flags for both runners
  InputMaker make_inputs;
  fs::path data;  // shared data the inputs come from (empty: generated)
  // Also compare a few intermediate activations (made graph outputs in a copy of the model):
  // the onnx-light models have constant weights, so their final outputs are the same value
  // for every class and check little on their own.
  bool intermediates = false;
};

// Photographs spread over the sample folder, preprocessed as the model expects.
InputMaker images(PreprocessOptions o) {
  return [o](const fs::path& dir, const std::string& input, int count) {
    auto files = list_images(kImages.string());
    for (int i = 0; i < count; ++i) {
      const auto& f = files[(static_cast<size_t>(i) * 67 + 3) % files.size()];
      write_raw(sample_path(dir.string(), input, i), load_image_tensor(f, o));
    }
  };
}

PreprocessOptions pre(int h, int w, std::vector<float> mean, std::vector<float> std, bool bgr = false,
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

// The first `count` digits of the MNIST test set as 0..255 floats [1,1,28,28].
void mnist_inputs(const fs::path& dir, const std::string& input, int count) {
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
    for (size_t k = 0; k < px.size(); ++k) t.data<float>()[k] = px[k];
    write_raw(sample_path(dir.string(), input, i), t);
  }
  gzclose(f);
}

// Fixed smooth values in [-2, 2] of shape [1,3,224,224] (the onnx-light models take any input).
void light_inputs(const fs::path& dir, const std::string& input, int count) {
  for (int i = 0; i < count; ++i) {
    Tensor t(DType::F32, {1, 3, 224, 224});
    float* d = t.data<float>();
    for (int64_t k = 0; k < t.numel(); ++k)
      d[k] = static_cast<float>(1.5 * std::sin(0.0137 * k + i) + 0.5 * std::cos(0.91 * k));
    write_raw(sample_path(dir.string(), input, i), t);
  }
}

// The example's own calibration samples, written by make-example next to the inputs folder.
void example_inputs(const fs::path& dir, const std::string& input, int count) {
  for (int i = 0; i < count; ++i)
    fs::copy_file(sample_path((dir.parent_path() / "example" / "calib").string(), input, i),
                  sample_path(dir.string(), input, i));
}

const std::vector<float> kImagenetMean{123.675f, 116.28f, 103.53f}, kImagenetStd{58.395f, 57.12f, 57.375f};

std::vector<ParityCase> all_cases() {
  std::vector<ParityCase> c;
  // Needs no shared data: runs wherever node and onnxruntime-node are installed.
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

std::string quote(const std::string& s) {
  std::string r = "'";
  for (char ch : s) r += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return r + "'";
}

// Runs a shell command with its output in `log`; returns the exit status (124: timed out).
int run_command(const std::string& cmd, const fs::path& log) {
  std::string full = "timeout " + std::to_string(kCommandTimeoutS) + " " + cmd + " > " + quote(log.string()) + " 2>&1";
  int rc = std::system(full.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? "..." + s.substr(s.size() - 4000) : s;
}

std::vector<float> read_floats(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<float> v(static_cast<size_t>(fs::file_size(p)) / sizeof(float));
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

bool node_available() { return std::system("node --version > /dev/null 2>&1") == 0; }

// Operators (after the load sequence) the runtime does not register.
std::set<std::string> missing_ops(const OnnxGraph& g) {
  std::set<std::string> missing;
  for (const auto& n : g.graph().node()) {
    bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!std_domain) missing.insert(n.domain() + "::" + n.op_type());
    else if (!OpRegistry::instance().has(n.op_type())) missing.insert(n.op_type());
  }
  return missing;
}

// gtest prints a failing case's parameter: its name, not its bytes.
void PrintTo(const ParityCase& c, std::ostream* os) { *os << c.name; }

class OrtParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(OrtParity, OutputsMatchOnnxRuntime) {
  const ParityCase& pc = GetParam();
  const fs::path work = fs::path(DPL_BINARY_DIR) / "parity" / pc.name;
  const fs::path model = pc.model.empty() ? work / "example" / "tiny_cnn.onnx" : kModels / pc.model;
  if (!pc.model.empty() && !fs::exists(model)) GTEST_SKIP() << "shared model not present: " << model;
  if (!node_available()) GTEST_SKIP() << "node is not installed (run scripts/install_deps.sh)";
  if (!fs::exists(kOrtPackage))
    GTEST_SKIP() << "onnxruntime-node is not installed in tests/tools/node_modules (run scripts/install_deps.sh)";
  if (!pc.data.empty() && !fs::exists(pc.data)) GTEST_SKIP() << "shared data not present: " << pc.data;
  fs::remove_all(work);
  fs::create_directories(work);
  if (pc.model.empty()) {
    int rc = run_command(quote(kMakeExample.string()) + " " + quote((work / "example").string()) + " " +
                             std::to_string(pc.samples),
                         work / "example.log");
    ASSERT_EQ(rc, 0) << "make-example failed:\n" << read_text(work / "example.log");
  }

  fs::path run_model = model;
  if (pc.intermediates) {
    // Activations at about 1/4, 1/2 and 3/4 of the network become extra outputs.
    OnnxGraph m = OnnxGraph::load(model.string());
    const std::set<std::string> kinds{"Conv", "Relu", "Concat", "MaxPool", "AveragePool", "Sum", "Add", "LRN"};
    std::vector<std::string> acts;
    for (const auto& n : m.graph().node())
      if (kinds.count(n.op_type()) && n.output_size() > 0) acts.push_back(n.output(0));
    ASSERT_GE(acts.size(), 4u) << "too few activations in " << model;
    for (size_t k = 1; k <= 3; ++k) m.add_network_output(acts[acts.size() * k / 4]);
    run_model = work / "model_with_intermediates.onnx";
    m.save(run_model.string());
  }

  OnnxGraph g;
  try {
    g = OnnxGraph::load(run_model.string());
    g.prepare();
  } catch (const std::exception& e) {
    FAIL() << "the model does not go through the load sequence: " << e.what();
  }
  auto missing = missing_ops(g);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    std::cout << "[parity] " << pc.name << ": skipped, the runtime lacks " << list << std::endl;
    GTEST_SKIP() << "the runtime lacks operator(s): " << list;
  }
  ASSERT_TRUE(fs::exists(kInfer)) << kInfer << " is not built";

  const fs::path in = work / "inputs", ours = work / "ours", ort = work / "ort";
  auto inputs = g.network_inputs();
  ASSERT_EQ(inputs.size(), 1u) << "the parity cases feed single-input models";
  fs::create_directories(in / file_safe_name(inputs[0]));
  pc.make_inputs(in, inputs[0], pc.samples);
  if (HasFatalFailure()) return;

  std::string common = " -M " + quote(run_model.string()) + " -I " + quote(in.string()) + " -N " +
                       std::to_string(pc.samples) + " --threads " + std::to_string(kThreads);
  for (const auto& s : pc.input_shapes) common += " --input_shape " + quote(s);
  int rc = run_command(quote(kInfer.string()) + common + " -O " + quote(ours.string()), work / "ours.log");
  ASSERT_EQ(rc, 0) << "dipoorlet-infer failed (exit " << rc << "):\n" << read_text(work / "ours.log");
  rc = run_command("node " + quote(kOrtScript.string()) + common + " -O " + quote(ort.string()), work / "ort.log");
  ASSERT_EQ(rc, 0) << "ort_run.js failed (exit " << rc << "):\n" << read_text(work / "ort.log");

  auto outputs = g.network_outputs();
  ASSERT_FALSE(outputs.empty());
  // One cosine per output over all its samples (a sample whose output is all but zero, e.g.
  // a text detector's map of a photo without text, says nothing on its own), plus the
  // worst single-sample cosine and the largest absolute difference for information.
  for (const auto& out : outputs) {
    double dot = 0, na = 0, nb = 0, worst_diff = 0, worst_sample = 1.0;
    size_t elements = 0;
    for (int i = 0; i < pc.samples; ++i) {
      const std::string file = file_safe_name(out) + "/" + std::to_string(i) + ".bin";
      ASSERT_TRUE(fs::exists(ours / file)) << "dipoorlet-infer wrote no " << ours / file;
      ASSERT_TRUE(fs::exists(ort / file)) << "ort_run.js wrote no " << ort / file;
      auto a = read_floats(ours / file), b = read_floats(ort / file);
      ASSERT_EQ(a.size(), b.size()) << "output '" << out << "' sample " << i << ": " << a.size()
                                    << " values from dipoorlet-infer, " << b.size() << " from ONNX Runtime";
      double sd = 0, sa = 0, sb = 0;
      for (size_t k = 0; k < a.size(); ++k) {
        sd += double(a[k]) * b[k];
        sa += double(a[k]) * a[k];
        sb += double(b[k]) * b[k];
        double diff = std::fabs(double(a[k]) - b[k]);
        if (std::isnan(a[k]) != std::isnan(b[k])) diff = NAN;
        if (!(diff <= worst_diff)) worst_diff = diff;  // NaN sticks
      }
      double cos = (sa == 0 && sb == 0) ? 1.0 : sd / std::sqrt(sa * sb);
      if (!(cos >= worst_sample)) worst_sample = cos;
      dot += sd;
      na += sa;
      nb += sb;
      elements += a.size();
    }
    double cos = (na == 0 && nb == 0) ? 1.0 : dot / std::sqrt(na * nb);
    std::cout << "[parity] " << pc.name << " output '" << out << "' (" << pc.samples << " samples, " << elements
              << " values): cosine " << std::setprecision(9) << cos << " (worst sample " << worst_sample
              << "), max |diff| " << std::setprecision(4) << worst_diff << std::endl;
    EXPECT_GE(cos, kMinCosine) << "output '" << out << "' differs from ONNX Runtime (max |diff| " << worst_diff << ")";
    EXPECT_FALSE(std::isnan(worst_diff)) << "output '" << out << "': NaN where ONNX Runtime has a number or back";
  }
}

std::string case_name(const ::testing::TestParamInfo<ParityCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Models, OrtParity, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace dpl::test
