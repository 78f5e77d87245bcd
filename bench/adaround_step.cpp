// bench-adaround-step MODEL BATCH ITERS THREADS [LABEL]: times one AdaRound iteration (soft weight,
// forward, loss, backward, dL/dV, Adam step: transform/adaround_layer.h) on four kinds of
// real layers of MODEL, picked automatically: the first 3x3 convolution (group 1) at 104 x 104
// (else at the largest spatial size), the first depthwise 3x3, the first 1x1 (group 1), and the last Conv
// (the head); LABEL (3x3, depthwise 3x3, 1x1, head) times one of them. Inputs and targets are random of the layers' shapes at BATCH (the timing does
// not depend on the values); the grid is 4-bit symmetric per output channel from the weights'
// min/max. Prints one JSON object per layer with its geometry, so that
// bench/adaround_step_torch.py can time the same step in PyTorch.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>

#include "graph/node_attrs.h"
#include "optimizer/prepare.h"
#include "transform/adaround_layer.h"
#include "transform/recon_layer.h"
#include "util/command_main.h"
#include "util/error.h"

using namespace dpl;

namespace {

Tensor random_of(Shape s, uint64_t seed) {
  Tensor t(DType::F32, std::move(s));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

train::WeightGrid grid_4bit(const Tensor& w) {
  train::WeightGrid g;
  g.axis = 0;
  const int64_t c = w.dim(0), per = w.numel() / c;
  for (int64_t k = 0; k < c; ++k) {
    float m = 1e-8f;
    for (int64_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w.data<float>()[k * per + i]));
    g.scale.push_back(m / 7);
    g.lo.push_back(-8);
    g.hi.push_back(7);
  }
  return g;
}

std::string json_ints(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

int run(int argc, char** argv) {
  DPL_CHECK(argc == 5 || argc == 6, "usage: bench-adaround-step MODEL BATCH ITERS THREADS [LABEL]");
  const std::string only = argc == 6 ? argv[5] : "";
  const int64_t batch = std::stoll(argv[2]), iters = std::stoll(argv[3]);
  const int threads = std::stoi(argv[4]);
  OnnxGraph g = OnnxGraph::load(argv[1]);
  prepare_model(g, SimplifyOptions{});
  const auto layers = transform::find_recon_layers(g, {});
  auto geometry = [&](const transform::ReconLayer& l) {
    const auto& n = g.node(l.node);
    const Shape w = g.get_initializer(l.weight).shape();
    const Shape x = g.tensor_shape(l.input).value_or(Shape{});
    return std::make_tuple(n.op_type(), attr_int(n, "group", 1), w, x);
  };
  // The picks: (label, index into layers).
  std::vector<std::pair<std::string, int>> picks;
  int best3 = -1, dw = -1, pw = -1, head = -1;
  int64_t best_hw = 0;
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    const auto [op, group, w, x] = geometry(layers[i]);
    if (op != "Conv" || w.size() != 4 || x.size() != 4) continue;
    head = i;
    // A 3x3 at 104 x 104 when there is one (YOLOX-Nano's), else the largest.
    const int64_t hw = x[2] == 104 && x[3] == 104 ? INT64_MAX : x[2] * x[3];
    if (group == 1 && w[2] == 3 && hw > best_hw) best3 = i, best_hw = hw;
    if (group > 1 && group == x[1] && w[2] == 3 && dw < 0) dw = i;
    if (group == 1 && w[2] == 1 && pw < 0) pw = i;
  }
  for (auto [label, i] : {std::pair<std::string, int>{"3x3", best3}, {"depthwise 3x3", dw}, {"1x1", pw}, {"head", head}})
    if (i >= 0 && (only.empty() || only == label)) picks.emplace_back(label, i);
  DPL_CHECK(!picks.empty(), "{} has no Conv layer to time", argv[1]);

  for (const auto& [label, i] : picks) {
    const auto& l = layers[i];
    const auto& n = g.node(l.node);
    Shape xs = g.tensor_shape(l.input).value_or(Shape{});
    Shape ts = g.tensor_shape(l.target).value_or(Shape{});
    DPL_CHECK(!xs.empty() && !ts.empty(), "{}: shapes unknown", l.name);
    xs[0] = batch;
    ts[0] = batch;
    const Tensor w = g.get_initializer(l.weight);
    transform::AdaRoundLayer layer(g, l, grid_4bit(w), 1e-3, threads);
    const Tensor x = random_of(xs, 1), t = random_of(ts, 2);
    for (int k = 0; k < 3; ++k) layer.iterate(x, t, 10.0, 0.01);  // warm-up: primitives built
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t k = 0; k < iters; ++k) layer.iterate(x, t, 10.0, 0.01);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                      static_cast<double>(iters);
    std::string act = l.kind.find('+') == std::string::npos ? "" : l.kind.substr(l.kind.find('+') + 1);
    std::vector<int64_t> pads = attr_ints(n, "pads"), strides = attr_ints(n, "strides"),
                         dil = attr_ints(n, "dilations");
    if (pads.empty()) pads = {0, 0, 0, 0};
    if (strides.empty()) strides = {1, 1};
    if (dil.empty()) dil = {1, 1};
    std::cout << fmt::format(
                     "{{\"label\": \"{}\", \"node\": \"{}\", \"kind\": \"{}\", \"act\": \"{}\", \"x\": {}, \"w\": {}, "
                     "\"bias\": {}, \"group\": {}, \"pads\": {}, \"strides\": {}, \"dilations\": {}, \"ms\": {:.4f}}}",
                     label, l.name, l.kind, act, json_ints(xs), json_ints(w.shape()),
                     n.input_size() > 2 && !n.input(2).empty() ? "true" : "false", attr_int(n, "group", 1),
                     json_ints(pads), json_ints(strides), json_ints(dil), ms)
              << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return command_main(run, argc, argv, true); }
