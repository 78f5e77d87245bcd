// make-example OUT_DIR [SAMPLES]: generates the bundled example, all from fixed seeds with the
// project's own code (nothing downloaded):
//   OUT_DIR/tiny_cnn.onnx              a small residual CNN classifier (opset 13), input
//                                      "input" [1,3,32,32], output "logits" [1,10]
//   OUT_DIR/calib/input/<i>.bin        SAMPLES (default 32) calibration images: synthetic
//                                      scenes (gradients, discs, boxes, stripes, noise)
//                                      normalised with the ImageNet mean/std, NCHW float32
// The network: Conv-BN-Relu stem, two residual blocks (Conv-BN-Relu-Conv-BN + skip, Relu),
// MaxPool, AveragePool, a 1x1 Conv, GlobalAveragePool, Flatten and a Gemm classifier.
// Weights are He-normal, BN statistics are plausible running statistics.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "io/atomic_file.h"
#include "io/calib_data.h"
#include "io/image_preprocess.h"
#include "util/command_main.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace dpl;

namespace {

// Deterministic on every platform: std::mt19937 is fully specified, the distributions of the
// standard library are not, so uniform/normal are derived here.
class Rng {
 public:
  explicit Rng(uint32_t seed) : gen_(seed) {}
  double uniform() { return (gen_() + 0.5) / 4294967296.0; }  // (0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  int below(int n) { return static_cast<int>(gen_() % static_cast<uint32_t>(n)); }

 private:
  std::mt19937 gen_;
};

class ModelBuilder {
 public:
  explicit ModelBuilder(uint32_t seed) : rng_(seed) {
    model_.set_ir_version(7);
    model_.set_producer_name("dipoorlet-cpp make-example");
    model_.set_model_version(1);
    auto* op = model_.add_opset_import();
    op->set_domain("");
    op->set_version(13);
    g_ = model_.mutable_graph();
    g_->set_name("tiny_cnn");
  }

  void value_info(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void input(const std::string& name, const Shape& s) { value_info(g_->add_input(), name, s); }
  void output(const std::string& name, const Shape& s) { value_info(g_->add_output(), name, s); }

  std::string init(const std::string& name, const Shape& shape, const std::vector<float>& v) {
    *g_->add_initializer() = tensor_to_proto(Tensor::from_vector<float>(shape, v), name);
    params_ += static_cast<int64_t>(v.size());
    return name;
  }
  std::vector<float> normal(int64_t n, double mean, double std) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = static_cast<float>(mean + std * rng_.normal());
    return v;
  }

  onnx::NodeProto* node(const std::string& op, const std::string& name, const std::vector<std::string>& in,
                        const std::string& out) {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  }
  static void ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }

  // Conv (no bias, He-normal) + BatchNormalization (+ Relu).
  std::string conv_bn(const std::string& x, const std::string& name, int cin, int cout, int k, int stride,
                      bool relu) {
    std::string w = init(name + ".weight", {cout, cin, k, k}, normal(int64_t{cout} * cin * k * k, 0.0,
                                                                     std::sqrt(2.0 / (cin * k * k))));
    auto* c = node("Conv", name, {x, w}, name + "_out");
    ints(c, "kernel_shape", {k, k});
    ints(c, "strides", {stride, stride});
    ints(c, "pads", {k / 2, k / 2, k / 2, k / 2});
    std::vector<float> gamma(cout), beta(cout), mean(cout), var(cout);
    for (int i = 0; i < cout; ++i) {
      gamma[i] = static_cast<float>(std::max(0.2, 1.0 + 0.15 * rng_.normal()));
      beta[i] = static_cast<float>(0.1 * rng_.normal());
      mean[i] = static_cast<float>(0.2 * rng_.normal());
      var[i] = static_cast<float>(rng_.uniform(0.5, 1.5));
    }
    std::string bn_out = name + "_bn";
    auto* bn = node("BatchNormalization", name + "_bn",
                    {name + "_out", init(name + "_bn.scale", {cout}, gamma), init(name + "_bn.bias", {cout}, beta),
                     init(name + "_bn.mean", {cout}, mean), init(name + "_bn.var", {cout}, var)},
                    bn_out);
    attr_float(bn, "epsilon", 1e-5f);
    if (!relu) return bn_out;
    node("Relu", name + "_relu", {bn_out}, name + "_relu");
    return name + "_relu";
  }

  std::string residual(const std::string& x, const std::string& name, int ch) {
    std::string a = conv_bn(x, name + "_conv1", ch, ch, 3, 1, true);
    std::string b = conv_bn(a, name + "_conv2", ch, ch, 3, 1, false);
    node("Add", name + "_add", {b, x}, name + "_add");
    node("Relu", name + "_relu", {name + "_add"}, name + "_out");
    return name + "_out";
  }

  onnx::ModelProto& model() { return model_; }
  int64_t params() const { return params_; }
  Rng& rng() { return rng_; }

 private:
  onnx::ModelProto model_;
  onnx::GraphProto* g_ = nullptr;
  Rng rng_;
  int64_t params_ = 0;
};

constexpr int kSize = 32, kClasses = 10;

onnx::ModelProto build_model(int64_t& params) {
  ModelBuilder b(20240601);
  b.input("input", {1, 3, kSize, kSize});
  std::string x = b.conv_bn("input", "stem", 3, 16, 3, 1, true);  // 16x32x32
  x = b.residual(x, "block1", 16);
  auto* mp = b.node("MaxPool", "pool1", {x}, "pool1");  // 16x16x16
  ModelBuilder::ints(mp, "kernel_shape", {2, 2});
  ModelBuilder::ints(mp, "strides", {2, 2});
  x = b.conv_bn("pool1", "expand", 16, 32, 3, 1, true);  // 32x16x16
  x = b.residual(x, "block2", 32);
  auto* ap = b.node("AveragePool", "pool2", {x}, "pool2");  // 32x8x8
  ModelBuilder::ints(ap, "kernel_shape", {2, 2});
  ModelBuilder::ints(ap, "strides", {2, 2});
  x = b.conv_bn("pool2", "head", 32, 64, 1, 1, true);  // 64x8x8
  b.node("GlobalAveragePool", "gap", {x}, "gap");
  auto* fl = b.node("Flatten", "flatten", {"gap"}, "features");
  ModelBuilder::attr_int(fl, "axis", 1);
  std::string w = b.init("fc.weight", {kClasses, 64}, b.normal(kClasses * 64, 0.0, std::sqrt(1.0 / 64)));
  std::string bias = b.init("fc.bias", {kClasses}, b.normal(kClasses, 0.0, 0.01));
  auto* fc = b.node("Gemm", "fc", {"features", w, bias}, "logits");
  ModelBuilder::attr_int(fc, "transB", 1);
  b.output("logits", {1, kClasses});
  onnx::checker::check_model(b.model());
  params = b.params();
  return b.model();
}

// A synthetic 32x32 RGB scene: a two-colour gradient background, a few discs, boxes or
// stripe patches in random colours, and mild pixel noise.
Image make_scene(Rng& rng) {
  Image img{kSize, kSize, 3, std::vector<uint8_t>(kSize * kSize * 3)};
  std::vector<float> px(img.pixels.size());
  double c0[3], c1[3];
  for (int c = 0; c < 3; ++c) c0[c] = rng.uniform(0, 255), c1[c] = rng.uniform(0, 255);
  double angle = rng.uniform(0, 6.283185307179586), dx = std::cos(angle), dy = std::sin(angle);
  for (int y = 0; y < kSize; ++y)
    for (int x = 0; x < kSize; ++x) {
      double t = std::clamp(0.5 + ((x - kSize / 2.0) * dx + (y - kSize / 2.0) * dy) / kSize, 0.0, 1.0);
      for (int c = 0; c < 3; ++c) px[(y * kSize + x) * 3 + c] = static_cast<float>(c0[c] + (c1[c] - c0[c]) * t);
    }
  int shapes = 1 + rng.below(3);
  for (int s = 0; s < shapes; ++s) {
    int kind = rng.below(3);
    double col[3];
    for (double& c : col) c = rng.uniform(0, 255);
    double cx = rng.uniform(4, kSize - 4), cy = rng.uniform(4, kSize - 4), r = rng.uniform(3, 10);
    double period = rng.uniform(3, 8);
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x) {
        bool in = false;
        if (kind == 0) in = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
        if (kind == 1) in = std::fabs(x - cx) <= r && std::fabs(y - cy) <= r * 0.6;
        if (kind == 2) in = std::fabs(x - cx) <= r && std::fabs(y - cy) <= r && std::fmod(x + y, period) < period / 2;
        if (!in) continue;
        for (int c = 0; c < 3; ++c) px[(y * kSize + x) * 3 + c] = static_cast<float>(col[c]);
      }
  }
  for (size_t i = 0; i < px.size(); ++i) {
    double v = px[i] + 6.0 * rng.normal();
    img.pixels[i] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
  }
  return img;
}

int run(int argc, char** argv) {
  DPL_CHECK(argc == 2 || argc == 3, "usage: make-example OUT_DIR [SAMPLES]   (writes tiny_cnn.onnx and calib/)");
  const std::string out = argv[1];
  int samples = 32;
  if (argc == 3) {
    try {
      samples = std::stoi(argv[2]);
    } catch (...) {
      samples = 0;
    }
    DPL_CHECK(samples > 0 && samples <= 100000, "SAMPLES must be a positive number, got '{}'", argv[2]);
  }
  ensure_writable_dir(out);
  int64_t params = 0;
  OnnxGraph graph = OnnxGraph::from_model(build_model(params));
  const std::string model_path = (fs::path(out) / "tiny_cnn.onnx").string();
  graph.save(model_path);

  PreprocessOptions pre;
  pre.height = pre.width = kSize;
  pre.mean = {123.675f, 116.28f, 103.53f};
  pre.std = {58.395f, 57.12f, 57.375f};
  const std::string calib = (fs::path(out) / "calib").string();
  ensure_writable_dir((fs::path(calib) / "input").string());
  Rng rng(7);
  for (int i = 0; i < samples; ++i) write_raw(sample_path(calib, "input", i), preprocess_image(make_scene(rng), pre));

  std::cout << "wrote " << model_path << " (" << graph.node_count() << " nodes, " << params
            << " parameters; input 'input' [1,3,32,32] -> output 'logits' [1,10])\n"
            << "wrote " << samples << " calibration samples to " << calib << "/input/<i>.bin\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return dpl::command_main(run, argc, argv); }
