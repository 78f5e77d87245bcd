// AdaRound (transform/adaround.h) on a small model at 4-bit weights (magicmind: asymmetric
// per-channel weights): every Conv, Gemm and
// constant-weight MatMul is trained; afterwards each weight lies exactly on the grid the
// QDQ model quantizes it with (so QuantizeLinear -> DequantizeLinear returns it unchanged),
// each layer's reconstruction error on the calibration samples is below round-to-nearest's,
// and so is the QDQ model's output error against FP32. The run is deterministic, and the
// same when its caches spill to a file (nothing left behind) as when they stay in memory; a
// full disk while spilling is one error naming the cache.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "calib/tensor_cali.h"
#include "quant/precision.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "transform/adaround.h"
#include "transform/recon_cache.h"
#include "transform/transform_test_util.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

OnnxGraph ada_model() {
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  add_conv(b, "conv1", "x", "c1", 3, 8, 3, 1, 1, 41);
  b.node("Relu", {"c1"}, {"r1"}, "relu1");
  add_conv(b, "conv2", "r1", "c2", 8, 8, 3, 2, 1, 42);
  b.node("Sigmoid", {"c2"}, {"s2"}, "sig2").node("Mul", {"c2", "s2"}, {"m2"}, "silu2");
  // A ConvTranspose (weight [C_in, C_out, k, k]: channels along axis 1) with a LeakyRelu.
  b.init("ct_w", random_tensor({8, 4, 2, 2}, 46, -1.f, 1.f))
      .node("ConvTranspose", {"m2", "ct_w"}, {"t3"}, "convt3")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2});
  b.node("LeakyRelu", {"t3"}, {"l3"}, "leaky3");
  b.node("GlobalAveragePool", {"l3"}, {"gap"}, "gap").node("Flatten", {"gap"}, {"f"}, "flatten");
  b.init("g1_w", random_tensor({6, 4}, 43, -1.f, 1.f))
      .init("g1_c", random_tensor({6}, 44, -1.f, 1.f))
      .node("Gemm", {"f", "g1_w", "g1_c"}, {"y"}, "gemm1")
      .attr("transB", int64_t{1});
  b.init("m_w", random_tensor({6, 5}, 45, -1.f, 1.f)).node("MatMul", {"y", "m_w"}, {"z"}, "matmul1");
  b.output("z");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

QdqOptions w4a8(const Platform& p) {
  PrecisionOptions o;
  o.w_bits = 4;
  QdqOptions q;
  q.precision = std::make_shared<const PrecisionPlan>(p, o);
  return q;
}

struct AdaSetup {
  // Asymmetric per-channel weights (zero points away from 0) and a quantized MatMul.
  const Platform& platform = platform_by_name("magicmind");
  OnnxGraph fp = ada_model();
  std::vector<TensorMap> samples = random_samples("x", {1, 3, 8, 8}, 48, 7, -1.f, 2.f);
  ActRanges act = minmax_ranges(fp, samples);
  WeightRanges weight = weight_ranges(fp);
  QdqOptions qdq = w4a8(platform);
};

transform::AdaRoundOptions quick_options() {
  transform::AdaRoundOptions o;
  o.iters = 3000;
  o.batch = 16;
  o.cache_dir = fs::temp_directory_path().string();
  return o;
}

OnnxGraph run_adaround(const AdaSetup& s, const transform::AdaRoundOptions& o, transform::AdaRoundResult* r = nullptr) {
  OnnxGraph g = s.fp.copy();
  MemorySampleSource data(s.samples);
  auto res = transform::adaround(g, s.fp, data, s.platform, s.act, s.weight, s.qdq, o, {});
  if (r) *r = res;
  return g;
}

double output_sse(const OnnxGraph& q, const AdaSetup& s) {
  const auto a = run_all(s.fp, s.samples, "z");
  const auto b = run_all(q, s.samples, "z");
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t k = 0; k < a[i].numel(); ++k) e += std::pow(a[i].data<float>()[k] - b[i].data<float>()[k], 2);
  return e;
}

TEST(AdaRound, LearnedRoundingIsOnTheGridAndBeatsNearest) {
  AdaSetup s;
  transform::AdaRoundResult r;
  const OnnxGraph g = run_adaround(s, quick_options(), &r);
  ASSERT_EQ(r.layers.size(), 5u);
  EXPECT_EQ(r.trained(), 5);
  EXPECT_EQ(r.layers[2].kind, "ConvTranspose+LeakyRelu");
  EXPECT_EQ(r.layers[1].kind, "Conv+SiLU");
  EXPECT_EQ(r.layers[0].kind, "Conv+Relu");
  // Learned rounding is not better on every layer by construction (the hard rounding at the
  // end may undo what the soft weights found when V has not converged: here the 30-weight
  // MatMul), but on most, and on the network output (below).
  int better = 0;
  for (const auto& l : r.layers) {
    better += l.mse_learned < l.mse_nearest;
    EXPECT_GT(l.changed, 0) << l.name << ": nothing differs from round-to-nearest";
  }
  EXPECT_GE(better, 4);
  // On the grid: each weight is (code) * scale of its channel, code inside qmin..qmax - zp.
  const QdqModel q = build_qdq(g, s.platform, s.act, s.weight, s.qdq);
  for (const char* wname : {"conv1_w", "conv2_w", "ct_w", "g1_w", "m_w"}) {
    EXPECT_EQ(q.pair(wname)->params.bits, 4) << wname;
    expect_on_grid(g, q, wname);
  }
  const double sse_learned = output_sse(q.graph, s);
  const double sse_nearest = output_sse(build_qdq(s.fp, s.platform, s.act, s.weight, s.qdq).graph, s);
  EXPECT_LT(sse_learned, sse_nearest);
}

TEST(AdaRound, DeterministicAndTheSameWhenTheCacheSpills) {
  AdaSetup s;
  transform::AdaRoundOptions o = quick_options();
  o.iters = 60;
  const fs::path dir = fs::temp_directory_path() / "dpl_adaround_spill";
  fs::remove_all(dir);
  fs::create_directories(dir);
  o.cache_dir = dir.string();
  const OnnxGraph a = run_adaround(s, o);
  const OnnxGraph b = run_adaround(s, o);
  // Half for the inputs' frontier, half for the targets', each two batches of the
  // ConvTranspose target: the largest caches spill, the others stay in memory.
  o.cache_bytes = 4 * (16 * 4 * 16 * 16 * 4 + 1);
  const OnnxGraph c = run_adaround(s, o);
  for (const char* w : {"conv1_w", "conv2_w", "ct_w", "g1_w", "m_w"}) {
    EXPECT_EQ(a.get_initializer(w).to_f32_vector(), b.get_initializer(w).to_f32_vector()) << w;
    EXPECT_EQ(a.get_initializer(w).to_f32_vector(), c.get_initializer(w).to_f32_vector()) << w;
  }
  EXPECT_TRUE(fs::is_empty(dir)) << "a cache file was left behind";
  o.cache_bytes = 1000;  // not even one batch
  try {
    run_adaround(s, o);
    ADD_FAILURE() << "a cache budget below one batch was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("--cache_mb"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// In the death test's child: a 4 KB file size limit, then 256 KB of rows spilled.
[[noreturn]] void fill_cache_past_file_limit(const fs::path& dir) {
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit lim{4096, 4096};
  setrlimit(RLIMIT_FSIZE, &lim);
  transform::CacheBudget budget{1 << 16, dir.string()};
  std::vector<float> row(1024, 1.f);
  try {
    transform::SampleCache cache("conv7 inputs", 64, {1, 1024}, 4, budget);
    for (int i = 0; i < 64; ++i) cache.put(i, row.data());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::exit(3);
  }
  std::exit(0);
}

TEST(AdaRound, AFullDiskWhileSpillingIsOneClearError) {
  // The file size limit stands in for a full disk: pwrite fails (EFBIG) once it is reached.
  const fs::path dir = fs::temp_directory_path() / "dpl_adaround_full";
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_EXIT(fill_cache_past_file_limit(dir), ::testing::ExitedWithCode(3),
              "writing the cache of conv7 inputs in .*dpl_adaround_full: File too large");
  EXPECT_TRUE(fs::is_empty(dir)) << "the spill file was left behind";
  fs::remove_all(dir);
}

TEST(AdaRound, AConvTransposeWithALargerOutputShapeIsTrained) {
  // A ConvTranspose whose output_shape (9 x 9) extends beyond its natural output (8 x 8): its
  // output's border holds only the bias. It is trained like any layer, its weight lands on its
  // grid, and the next layer is trained on its output.
  ModelBuilder b(13);
  b.input("x", {1, 2, 4, 4});
  b.init("ct_w", random_tensor({2, 3, 2, 2}, 5, -1.f, 1.f))
      .node("ConvTranspose", {"x", "ct_w"}, {"t"}, "convt")
      .attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("output_shape", std::vector<int64_t>{9, 9});
  add_conv(b, "conv", "t", "c", 3, 4, 3, 1, 1, 6);
  b.output("c");
  OnnxGraph fp = b.graph();
  prepare_model(fp, 13, false);
  const auto samples = random_samples("x", {1, 2, 4, 4}, 8, 3);
  MemorySampleSource data(samples);
  const Platform& p = platform_by_name("magicmind");
  OnnxGraph g = fp.copy();
  transform::AdaRoundOptions o = quick_options();
  o.iters = 50;
  const auto r = transform::adaround(g, fp, data, p, minmax_ranges(fp, samples), weight_ranges(fp), w4a8(p), o, {});
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_TRUE(r.layers[0].trained) << r.layers[0].note;
  EXPECT_LE(r.layers[0].mse_learned, r.layers[0].mse_nearest);
  EXPECT_NE(g.get_initializer("ct_w").to_f32_vector(), fp.get_initializer("ct_w").to_f32_vector());
  const auto ranges = minmax_ranges(fp, samples);
  expect_on_grid(g, build_qdq(g, p, ranges, weight_ranges(fp), w4a8(p)), "ct_w");
  EXPECT_TRUE(r.layers[1].trained);
}

TEST(AdaRound, ACacheFillThatStartsOverKeepsItsCacheAndBudget) {
  // observe_pass starts over one sample at a time when a batch fails: clear() must rewind the
  // rows, not create a second cache that takes the budget again.
  transform::CacheBudget budget{3 * 4 * 4, fs::temp_directory_path().string()};
  std::unique_ptr<transform::SampleCache> cache;
  int made = 0;
  transform::CacheFiller filler({"t"}, [&](const std::string&, const Shape& row, DType) -> transform::SampleCache& {
    ++made;
    cache = std::make_unique<transform::SampleCache>("t", 2, row, 1, budget);
    return *cache;
  });
  filler.observe("t", Tensor::from_vector<float>({2, 4}, {9, 9, 9, 9, 9, 9, 9, 9}), 2);
  filler.clear();
  filler.observe("t", Tensor::from_vector<float>({1, 4}, {1, 2, 3, 4}), 1);
  filler.observe("t", Tensor::from_vector<float>({1, 4}, {5, 6, 7, 8}), 1);
  EXPECT_EQ(made, 1);
  EXPECT_EQ(budget.bytes_left, 4 * 4);
  EXPECT_EQ(cache->gather({1, 0}).to_f32_vector(), (std::vector<float>{5, 6, 7, 8, 1, 2, 3, 4}));
}

TEST(AdaRound, SkippedLayersAndModelsWithoutWeightsAreLeftAlone) {
  AdaSetup s;
  transform::AdaRoundOptions o = quick_options();
  o.iters = 20;
  o.skip = {"conv2", "matmul1"};
  transform::AdaRoundResult r;
  const OnnxGraph g = run_adaround(s, o, &r);
  EXPECT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(g.get_initializer("conv2_w").to_f32_vector(), s.fp.get_initializer("conv2_w").to_f32_vector());

  ModelBuilder b(13);
  b.input("x", {1, 3, 4, 4}).node("Relu", {"x"}, {"y"}, "relu").output("y");
  OnnxGraph plain = b.graph();
  prepare_model(plain, 13, false);
  const auto samples = random_samples("x", {1, 3, 4, 4}, 4, 1);
  MemorySampleSource data(samples);
  const auto none = transform::adaround(plain, plain, data, s.platform, minmax_ranges(plain, samples),
                                        weight_ranges(plain), {}, o, {});
  EXPECT_TRUE(none.layers.empty());
}

}  // namespace
}  // namespace dpl::test
