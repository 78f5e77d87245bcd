// bench-gen-unet OUT_DIR [--channels C] [--size S] [--samples N] [--external_data]: a
// Stable-Diffusion-shaped UNet with random weights, from a fixed seed, for the large-model
// benchmark (bench/run_bigmodel_bench.sh, docs/external_data.md). With the defaults (C 320, as
// SD 1.x: 810 M parameters, 3.2 GB) its weights pass 2 GB, so it is written with
// external data (always with --external_data):
//   OUT_DIR/unet.onnx (+ unet.onnx.data)   inputs "sample" [1,4,S,S] and
//                                          "encoder_hidden_states" [1,77,768], output
//                                          "noise" [1,4,S,S]; opset 13, standard operators
//   OUT_DIR/data/<input>/<i>.bin           N samples of each input (normal noise)
// The network follows SD 1.x: conv_in; four levels of channels C, 2C, 4C, 4C with two
// ResBlocks each (GroupNorm written as Reshape + InstanceNormalization + Reshape + Mul + Add,
// SiLU as x * Sigmoid(x)), a transformer block after each ResBlock of the first three levels
// (1x1 proj_in, LayerNorm as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div, self-attention,
// cross-attention on encoder_hidden_states, a GELU (Erf) feed-forward, proj_out), stride-2
// downsampling; a middle block; the mirrored up path with skip Concats and nearest Resize;
// GroupNorm, SiLU, conv_out. No timestep input (it adds nothing a quantizer sees).
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "graph/node_builder.h"
#include "graph/onnx_graph.h"
#include "graph/tensor_proto.h"
#include "io/atomic_file.h"
#include "io/calib_data.h"
#include "util/command_main.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace dpl;

namespace {

constexpr int64_t kContext = 77, kContextDim = 768, kHeadDim = 64, kGroups = 32;

class UNetBuilder {
 public:
  explicit UNetBuilder(int64_t size) : size_(size), gen_(2026) {
    model_.set_ir_version(7);
    model_.set_producer_name("dipoorlet-cpp bench-gen-unet");
    auto* op = model_.add_opset_import();
    op->set_domain("");
    op->set_version(13);
    g_ = model_.mutable_graph();
    g_->set_name("unet");
  }

  onnx::ModelProto take() { return std::move(model_); }
  int64_t params() const { return params_; }

  void io(bool input, const std::string& name, const Shape& shape) {
    auto* v = input ? g_->add_input() : g_->add_output();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }

  // A weight of uniform values in [-a, a], a = sqrt(3 / fan_in): unit variance in and out.
  std::string weight(const Shape& shape, int64_t fan_in) {
    Tensor t(DType::F32, shape);
    float* d = t.data<float>();
    const float a = std::sqrt(3.0f / static_cast<float>(fan_in));
    for (int64_t i = 0; i < t.numel(); ++i) d[i] = a * (2.0f * static_cast<float>(gen_() >> 8) / 16777216.0f - 1.0f);
    return add_init(t);
  }
  std::string constant(const Shape& shape, float v) {
    Tensor t(DType::F32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
    return add_init(t);
  }
  std::string ints(const std::vector<int64_t>& v) {
    return add_init(Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v));
  }

  std::string node(const std::string& op, const std::vector<std::string>& in, onnx::NodeProto extra = {}) {
    const std::string out = fresh(op);
    onnx::NodeProto n = make_node(op, in, {out}, out);
    n.mutable_attribute()->MergeFrom(extra.attribute());
    *g_->add_node() = std::move(n);
    return out;
  }
  template <class T>
  std::string node(const std::string& op, const std::vector<std::string>& in, const std::string& attr, const T& v) {
    return node(op, in, make_node(op, {}, {}).attr(attr, v));
  }

  std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride = 1) {
    const std::string w = weight({cout, cin, k, k}, cin * k * k), b = constant({cout}, 0.0f);
    const int64_t p = k / 2;
    return node("Conv", {x, w, b},
                make_node("Conv", {}, {})
                    .attr("kernel_shape", std::vector<int64_t>{k, k})
                    .attr("pads", std::vector<int64_t>{p, p, p, p})
                    .attr("strides", std::vector<int64_t>{stride, stride}));
  }
  std::string silu(const std::string& x) { return node("Mul", {x, node("Sigmoid", {x})}); }
  std::string group_norm(const std::string& x, int64_t c, int64_t hw) {
    const std::string r = node("Reshape", {x, ints({1, kGroups, -1})});
    const std::string n =
        node("InstanceNormalization", {r, constant({kGroups}, 1.0f), constant({kGroups}, 0.0f)}, "epsilon", 1e-5f);
    const std::string back = node("Reshape", {n, ints({1, c, hw, hw})});
    return node("Add", {node("Mul", {back, constant({c, 1, 1}, 1.0f)}), constant({c, 1, 1}, 0.0f)});
  }
  std::string res_block(const std::string& x, int64_t cin, int64_t cout, int64_t hw) {
    std::string h = conv(silu(group_norm(x, cin, hw)), cin, cout, 3);
    h = conv(silu(group_norm(h, cout, hw)), cout, cout, 3);
    const std::string skip = cin == cout ? x : conv(x, cin, cout, 1);
    return node("Add", {skip, h});
  }
  std::string layer_norm(const std::string& x, int64_t c) {
    const std::string mean = node("ReduceMean", {x}, "axes", std::vector<int64_t>{-1});
    const std::string d = node("Sub", {x, mean});
    const std::string var = node("ReduceMean", {node("Pow", {d, constant({}, 2.0f)})}, "axes", std::vector<int64_t>{-1});
    const std::string n = node("Div", {d, node("Sqrt", {node("Add", {var, constant({}, 1e-5f)})})});
    return node("Add", {node("Mul", {n, constant({c}, 1.0f)}), constant({c}, 0.0f)});
  }
  std::string linear(const std::string& x, int64_t cin, int64_t cout, bool bias) {
    const std::string y = node("MatMul", {x, weight({cin, cout}, cin)});
    return bias ? node("Add", {y, constant({cout}, 0.0f)}) : y;
  }
  // [1, L, C] -> [1, heads, L, 64] (and its transpose for keys).
  std::string heads(const std::string& x, int64_t c, const std::vector<int64_t>& perm) {
    return node("Transpose", {node("Reshape", {x, ints({1, -1, c / kHeadDim, kHeadDim})})}, "perm", perm);
  }
  std::string attention(const std::string& x, const std::string& ctx, int64_t c, int64_t cctx) {
    const std::string q = heads(linear(x, c, c, false), c, {0, 2, 1, 3});
    const std::string k = heads(linear(ctx, cctx, c, false), c, {0, 2, 3, 1});
    const std::string v = heads(linear(ctx, cctx, c, false), c, {0, 2, 1, 3});
    const std::string s = node("Mul", {node("MatMul", {q, k}), constant({}, 1.0f / std::sqrt(float(kHeadDim)))});
    const std::string a = node("MatMul", {node("Softmax", {s}, "axis", int64_t{-1}), v});
    const std::string merged =
        node("Reshape", {node("Transpose", {a}, "perm", std::vector<int64_t>{0, 2, 1, 3}), ints({1, -1, c})});
    return linear(merged, c, c, true);
  }
  std::string gelu(const std::string& x) {
    const std::string e = node("Erf", {node("Div", {x, constant({}, std::sqrt(2.0f))})});
    return node("Mul", {node("Mul", {x, node("Add", {e, constant({}, 1.0f)})}), constant({}, 0.5f)});
  }
  std::string transformer(const std::string& x, int64_t c, int64_t hw) {
    const std::string in = conv(group_norm(x, c, hw), c, c, 1);
    std::string t =
        node("Transpose", {node("Reshape", {in, ints({1, c, hw * hw})})}, "perm", std::vector<int64_t>{0, 2, 1});
    const std::string n1 = layer_norm(t, c);
    t = node("Add", {t, attention(n1, n1, c, c)});
    t = node("Add", {t, attention(layer_norm(t, c), "encoder_hidden_states", c, kContextDim)});
    t = node("Add", {t, linear(gelu(linear(layer_norm(t, c), c, 4 * c, true)), 4 * c, c, true)});
    const std::string back =
        node("Reshape", {node("Transpose", {t}, "perm", std::vector<int64_t>{0, 2, 1}), ints({1, c, hw, hw})});
    return node("Add", {x, conv(back, c, c, 1)});
  }

  void build(int64_t base) {
    io(true, "sample", {1, 4, size_, size_});
    io(true, "encoder_hidden_states", {1, kContext, kContextDim});
    const std::vector<int64_t> mult = {1, 2, 4, 4};
    const std::vector<bool> attn = {true, true, true, false};
    std::string h = conv("sample", 4, base, 3);
    std::vector<std::pair<std::string, int64_t>> skips = {{h, base}};
    int64_t c = base, hw = size_;
    for (size_t level = 0; level < mult.size(); ++level) {
      const int64_t cout = base * mult[level];
      for (int b = 0; b < 2; ++b) {
        h = res_block(h, c, cout, hw);
        c = cout;
        if (attn[level]) h = transformer(h, c, hw);
        skips.push_back({h, c});
      }
      if (level + 1 < mult.size()) {
        h = conv(h, c, c, 3, 2);
        hw /= 2;
        skips.push_back({h, c});
      }
    }
    h = transformer(res_block(h, c, c, hw), c, hw);
    h = res_block(h, c, c, hw);
    for (int level = static_cast<int>(mult.size()) - 1; level >= 0; --level) {
      const int64_t cout = base * mult[level];
      for (int b = 0; b < 3; ++b) {
        const auto [skip, cs] = skips.back();
        skips.pop_back();
        h = res_block(node("Concat", {h, skip}, "axis", int64_t{1}), c + cs, cout, hw);
        c = cout;
        if (attn[level]) h = transformer(h, c, hw);
      }
      if (level > 0) {
        const std::string scales = add_init(Tensor::from_vector<float>({4}, {1, 1, 2, 2}));
        const std::string up = node("Resize", {h, "", scales}, "mode", std::string("nearest"));
        hw *= 2;
        h = conv(up, c, c, 3);
      }
    }
    const std::string out = conv(silu(group_norm(h, c, hw)), c, 4, 3);
    *g_->add_node() = make_node("Identity", {out}, {"noise"}, "noise");
    io(false, "noise", {1, 4, size_, size_});
  }

 private:
  std::string fresh(const std::string& base) { return base + "_" + std::to_string(counter_++); }
  std::string add_init(const Tensor& t) {
    const std::string name = fresh("w");
    *g_->add_initializer() = tensor_to_proto(t, name);
    params_ += t.numel();
    return name;
  }

  onnx::ModelProto model_;
  onnx::GraphProto* g_ = nullptr;
  int64_t size_;
  std::mt19937 gen_;
  int64_t params_ = 0;
  int counter_ = 0;
};

int64_t flag_value(int& i, int argc, char** argv, int64_t lo, int64_t hi) {
  const std::string flag = argv[i];
  DPL_CHECK(i + 1 < argc, "{} needs a value", flag);
  int64_t v = 0;
  try {
    v = std::stoll(argv[++i]);
  } catch (...) {
    fail("{} needs a number, got '{}'", flag, argv[i]);
  }
  DPL_CHECK(v >= lo && v <= hi, "{} must be in [{}, {}], got {}", flag, lo, hi, v);
  return v;
}

int run(int argc, char** argv) {
  DPL_CHECK(argc >= 2, "usage: bench-gen-unet OUT_DIR [--channels C] [--size S] [--samples N] [--external_data]");
  const std::string out = argv[1];
  int64_t channels = 320, size = 16, samples = 8;
  bool external_data = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--channels") channels = flag_value(i, argc, argv, kGroups, 4096);
    else if (a == "--size") size = flag_value(i, argc, argv, 8, 1024);
    else if (a == "--samples") samples = flag_value(i, argc, argv, 1, 100000);
    else if (a == "--external_data") external_data = true;
    else fail("unknown argument '{}'", a);
  }
  DPL_CHECK(channels % kHeadDim == 0 && channels % kGroups == 0, "--channels must be a multiple of 64, got {}",
            channels);
  DPL_CHECK(size % 8 == 0, "--size must be a multiple of 8 (three downsamplings), got {}", size);
  ensure_writable_dir(out);
  UNetBuilder b(size);
  b.build(channels);
  const int64_t params = b.params();
  OnnxGraph graph = OnnxGraph::from_model(b.take());
  const std::string model_path = (fs::path(out) / "unet.onnx").string();
  const bool external = graph.save(model_path, external_data);
  std::mt19937 gen(7);
  std::normal_distribution<float> normal;
  const std::string data = (fs::path(out) / "data").string();
  for (const auto& [input, shape] : std::vector<std::pair<std::string, Shape>>{
           {"sample", {1, 4, size, size}}, {"encoder_hidden_states", {1, kContext, kContextDim}}}) {
    ensure_writable_dir((fs::path(data) / input).string());
    for (int i = 0; i < samples; ++i) {
      Tensor t(DType::F32, shape);
      for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = normal(gen);
      write_raw(sample_path(data, input, i), t);
    }
  }
  std::cout << "wrote " << model_path << (external ? " (+ unet.onnx.data)" : "") << ": " << graph.node_count()
            << " nodes, " << params << " parameters (" << params * 4 / 1000000 << " MB of weights)\n"
            << "wrote " << samples << " samples of 'sample' and 'encoder_hidden_states' to " << data << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return dpl::command_main(run, argc, argv); }
