// Low-bit weights without the precision plan, run by hand (disabled by default): top-1 of the
// fmnist-dev models on the 10,000 Fashion-MNIST test images at W{B}A8, B = 4 or 2, with the
// first and last weighted layers at 8 bits, for --w_range minmax and mse (docs/calibration.md,
// docs/benchmarks.md "Low-bit accuracy"):
//   dipoorlet_tests --gtest_also_run_disabled_tests --gtest_filter='LowbitBench.*'
// Environment: DPL_LOWBIT_MODELS (default "resnet,mbv2,vit"), DPL_LOWBIT_PLATFORMS ("magicmind,trt"),
// DPL_LOWBIT_BITS ("8,4,2"), DPL_LOWBIT_ALGOS ("minmax,lp"), FMNIST (the Debian package's folder).
//
// How: the weights of the B-bit layers are fake-quantized in float on their B-bit grid (per
// channel as the platform quantizes weights, ranges from weight_ranges with that grid), and the
// QDQ model's 8-bit weight grid is then chosen to contain the B-bit grid exactly (its scale a
// whole fraction of the B-bit scale), so the 8-bit QDQ model computes the B-bit weights
// exactly; activations are quantized at 8 bits by the QDQ builder as usual.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "calib/lp_search.h"
#include "calib/sample_source.h"
#include "calib/tensor_cali.h"
#include "graph/weight_axes.h"
#include "optimizer/prepare.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "runtime/session.h"
#include "shared_models.h"

namespace dpl::test {
namespace {

std::string env(const char* name, const std::string& dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : dflt;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> r;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) r.push_back(item);
  return r;
}

std::vector<uint8_t> gunzip(const std::string& path, size_t skip) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return {};
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (int n; (n = gzread(f, buf, sizeof buf)) > 0;) out.insert(out.end(), buf, buf + n);
  gzclose(f);
  out.erase(out.begin(), out.begin() + std::min(skip, out.size()));
  return out;
}

// Images first..first+n-1 of a split as [n,1,28,28], normalised as the models expect.
Tensor images(const std::vector<uint8_t>& idx, int first, int n) {
  Tensor t(DType::F32, {n, 1, 28, 28});
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = (idx[first * 784 + i] / 255.f - 0.2860f) / 0.3530f;
  return t;
}

// The weight input of each layer the platform quantizes, in graph order.
std::vector<std::pair<int, std::string>> weights(const OnnxGraph& g, const Platform& p) {
  std::vector<std::pair<int, std::string>> r;
  for (int i = 0; i < g.node_count(); ++i) {
    const auto& n = g.node(i);
    const bool w = op_has_weight(n.op_type()) || (n.op_type() == "MatMul" && p.quantizes("MatMul"));
    if (w && p.quantizes(n.op_type()) && n.input_size() > 1 && g.is_initializer(n.input(1))) r.push_back({i, n.input(1)});
  }
  return r;
}

// Fake-quantizes weight `name` on its `bits` grid and returns 8-bit ranges whose grid holds it.
ChannelRanges to_bits(OnnxGraph& g, const onnx::NodeProto& node, const std::string& name, const ChannelRanges& r,
                      int bits, const QuantSpec& spec) {
  Tensor w = g.get_initializer(name).clone();
  const int axis = spec.per_channel ? weight_channel_axis(node, 1, w.rank()) : -1;
  int64_t outer = 1, channels = 1, inner = w.numel();
  if (axis >= 0) {
    channels = w.dim(axis), inner = 1;
    for (int d = 0; d < axis; ++d) outer *= w.dim(d);
    for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  }
  ChannelRanges out = r;
  float glo = r.lo[0], ghi = r.hi[0];
  for (size_t c = 0; c < r.lo.size(); ++c) glo = std::min(glo, r.lo[c]), ghi = std::max(ghi, r.hi[c]);
  for (int64_t c = 0; c < channels; ++c) {
    const double lo = axis >= 0 ? r.lo[c] : glo, hi = axis >= 0 ? r.hi[c] : ghi;
    const auto q = calib::GridQuantizer::make(lo, hi, bits, spec.symmetric);
    for (int64_t o = 0; o < outer; ++o) {
      float* p = w.data<float>() + (o * channels + c) * inner;
      q.apply(p, p, inner);
    }
    Range e;
    if (spec.symmetric) {
      const double m = std::floor(127.0 / q.code_hi);  // 8-bit steps per B-bit step
      e = {static_cast<float>(-127 * q.scale / m), static_cast<float>(127 * q.scale / m)};
    } else {
      const double m = std::floor(255.0 / q.code_hi);
      const double l = -q.zero_point * q.scale;
      e = {static_cast<float>(l), static_cast<float>(l + 255 * q.scale / m)};
    }
    for (size_t k = 0; k < out.lo.size(); ++k)
      if (axis < 0 || static_cast<int64_t>(k) == c) out.lo[k] = e.lo, out.hi[k] = e.hi;
  }
  g.set_initializer(name, w);
  return out;
}

TEST(LowbitBench, DISABLED_FashionMnistTop1) {
  const std::string dir = env("FMNIST", "/usr/share/datasets/fashion-mnist");
  const auto train = gunzip(dir + "/train-images-idx3-ubyte.gz", 16), test = gunzip(dir + "/t10k-images-idx3-ubyte.gz", 16),
             labels = gunzip(dir + "/t10k-labels-idx1-ubyte.gz", 8);
  if (train.size() < 1024 * 784 || labels.size() < 10000) GTEST_SKIP() << "no Fashion-MNIST in " << dir;
  std::vector<TensorMap> calib;
  for (int i = 0; i < 1024; ++i) calib.push_back({{"input", images(train, i, 1)}});
  std::printf("| model | -D | W/A | -A | --w_range minmax | --w_range mse |\n|---|---|---|---|---|---|\n");
  for (const auto& m : split(env("DPL_LOWBIT_MODELS", "resnet,mbv2,vit"))) {
    const auto path = kSharedModels / "fmnist-dev" / (m + "_dev.onnx");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared model not present: " << path;
    OnnxGraph fp = OnnxGraph::load(path.string());
    prepare_model(fp);
    for (const auto& pname : split(env("DPL_LOWBIT_PLATFORMS", "magicmind,trt"))) {
      const Platform& p = platform_by_name(pname);
      for (const auto& algo : split(env("DPL_LOWBIT_ALGOS", "minmax,lp"))) {
        MemorySampleSource src(calib);
        CaliOptions co;
        co.algo = parse_cali_algo(algo);
        co.symmetric = p.act.symmetric;
        co.dynamic_sym = p.act.dynamic_sym;
        co.batch = 64;
        const ActRanges act = calibrate_activations(fp, src, co);
        for (const auto& b : split(env("DPL_LOWBIT_BITS", "8,4,2"))) {
          const int bits = std::stoi(b);
          std::string row = fmt::format("| {} | {} | W{}A8 | {} |", m, pname, bits, algo);
          for (auto wr : {WeightRangeAlgo::MinMax, WeightRangeAlgo::Mse}) {
            OnnxGraph g = fp.copy();
            const auto ws = weights(g, p);
            WeightRangeOptions wo;
            wo.algo = wr;
            wo.grid = {bits, p.weight.symmetric, p.weight.per_channel};
            wo.tensor_grid[ws.front().second] = wo.tensor_grid[ws.back().second] = {8, p.weight.symmetric,
                                                                                     p.weight.per_channel};
            WeightRanges ranges = weight_ranges(g, wo);
            if (bits < 8)
              for (size_t k = 1; k + 1 < ws.size(); ++k)
                ranges[ws[k].second] =
                    to_bits(g, g.node(ws[k].first), ws[k].second, ranges.at(ws[k].second), bits, p.weight);
            QdqOptions qo;
            qo.quiet = true;
            const QdqModel q = build_qdq(g, p, act, ranges, qo);
            Session s(q.graph);
            int right = 0;
            for (int first = 0; first < 10000; first += 500) {
              const TensorMap out = s.run({{"input", images(test, first, 500)}});
              const Tensor& y = out.begin()->second;
              for (int i = 0; i < 500; ++i) {
                const float* r = y.data<float>() + i * 10;
                right += std::max_element(r, r + 10) - r == labels[first + i];
              }
            }
            row += fmt::format(" {:.2f} |", right / 100.0);
          }
          std::printf("%s\n", row.c_str());
          std::fflush(stdout);
        }
      }
    }
  }
}

}  // namespace
}  // namespace dpl::test
