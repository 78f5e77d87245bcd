// BRECQ and QDrop (transform/brecq.h) on a small residual network at W4A4 (magicmind:
// asymmetric per-channel 4-bit weights, activations of Conv/Gemm inputs at 4 bits): every
// block is trained; afterwards each weight lies exactly on its grid, the learned activation
// steps come back from the ranges written into `act`, and the QDQ model built from them is
// closer to FP32 than round-to-nearest with the calibrated ranges. The block model's drop
// wiring is checked by its limit (drop probability 1 is no drop), runs repeat exactly, and a
// block holding an operator without a backward pass falls back to its layers.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "calib/tensor_cali.h"
#include "optimizer/prepare.h"
#include "quant/precision.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "quant/quant_param.h"
#include "runtime/session.h"
#include "transform/block_model.h"
#include "transform/brecq.h"
#include "transform/transform_test_util.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

// stem -> BasicBlock -> BasicBlock with a 1x1 downsample -> GAP -> Gemm. `floor_in_block`
// puts a Floor (no backward pass) between the two convolutions of the first block.
OnnxGraph residual_model(bool floor_in_block = false) {
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  add_conv(b, "stem", "x", "s0", 3, 8, 3, 1, 1, 1);
  b.node("Relu", {"s0"}, {"s"}, "stem_relu");
  add_conv(b, "a1", "s", "a1o", 8, 8, 3, 1, 1, 2);
  b.node("Relu", {"a1o"}, {floor_in_block ? "a1f" : "a1r"}, "a1_relu");
  if (floor_in_block) b.node("Floor", {"a1f"}, {"a1r"}, "floor");
  add_conv(b, "a2", "a1r", "a2o", 8, 8, 3, 1, 1, 3);
  b.node("Add", {"a2o", "s"}, {"aadd"}, "a_add").node("Relu", {"aadd"}, {"r1"}, "a_relu");
  add_conv(b, "b1", "r1", "b1o", 8, 12, 3, 1, 1, 4);
  b.node("Relu", {"b1o"}, {"b1r"}, "b1_relu");
  add_conv(b, "b2", "b1r", "b2o", 12, 12, 3, 1, 1, 5);
  add_conv(b, "ds", "r1", "dso", 8, 12, 1, 1, 0, 6);
  b.node("Add", {"b2o", "dso"}, {"badd"}, "b_add").node("Relu", {"badd"}, {"r2"}, "b_relu");
  b.node("GlobalAveragePool", {"r2"}, {"gap"}, "gap").node("Flatten", {"gap"}, {"f"}, "flatten");
  b.init("fc_w", random_tensor({12, 6}, 7, -1.f, 1.f)).init("fc_b", random_tensor({6}, 8, -0.5f, 0.5f));
  b.node("Gemm", {"f", "fc_w", "fc_b"}, {"y"}, "fc");
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

QdqOptions w4a4(const Platform& p) {
  PrecisionOptions o;
  o.w_bits = 4;
  o.a_bits = 4;
  QdqOptions q;
  q.precision = std::make_shared<const PrecisionPlan>(p, o);
  return q;
}

struct BlockSetup {
  const Platform& platform = platform_by_name("magicmind");
  OnnxGraph fp = residual_model();
  std::vector<TensorMap> samples = random_samples("x", {1, 3, 8, 8}, 48, 11, -1.f, 2.f);
  ActRanges act = minmax_ranges(fp, samples);
  WeightRanges weight = weight_ranges(fp);
  QdqOptions qdq = w4a4(platform);
};

transform::BrecqOptions quick(bool drop) {
  transform::BrecqOptions o;
  o.iters = 800;
  o.batch = 16;
  o.drop = drop;
  o.cache_dir = fs::temp_directory_path().string();
  return o;
}

double output_sse(const OnnxGraph& q, const BlockSetup& s) {
  const auto a = run_all(s.fp, s.samples, "y");
  const auto b = run_all(q, s.samples, "y");
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t k = 0; k < a[i].numel(); ++k) e += std::pow(a[i].data<float>()[k] - b[i].data<float>()[k], 2);
  return e;
}

void check_method(bool drop) {
  BlockSetup s;
  OnnxGraph g = s.fp.copy();
  ActRanges act = s.act;
  MemorySampleSource data(s.samples);
  const auto r = transform::brecq(g, s.fp, data, s.platform, act, s.weight, s.qdq, quick(drop), {});
  ASSERT_EQ(r.blocks.size(), 4u);  // stem, two residual blocks, the classifier
  EXPECT_EQ(r.trained(), 4);
  EXPECT_EQ(r.blocks[2].description.rfind("residual block: b1, b2, ds", 0), 0u) << r.blocks[2].description;
  int learned = 0;
  for (const auto& b : r.blocks) {
    EXPECT_GT(b.changed, 0) << b.description;
    EXPECT_LE(b.mse_learned, b.mse_nearest * 1.05) << b.description;
    learned += b.scales;
  }
  EXPECT_GT(learned, 0);
  // The learned steps replaced the calibrated ranges, which give them back exactly.
  int changed = 0;
  const QdqModel q = build_qdq(g, s.platform, act, s.weight, s.qdq);
  for (const auto& [t, range] : act) {
    if (range.lo == s.act.at(t).lo && range.hi == s.act.at(t).hi) continue;
    ++changed;
    const QdqPair* p = q.pair(t);
    ASSERT_TRUE(p) << t;
    const float sc = p->params.scale[0];
    EXPECT_NEAR(range.hi, p->params.qmax[0] * sc, 1e-6 * std::fabs(range.hi)) << t;
    EXPECT_NEAR(range.lo, p->params.qmin[0] * sc, 1e-6 * std::fabs(range.lo) + 1e-12) << t;
  }
  EXPECT_EQ(changed, learned);
  for (const char* w : {"stem_w", "a1_w", "a2_w", "b1_w", "b2_w", "ds_w", "fc_w"}) expect_on_grid(g, q, w);
  const double sse_learned = output_sse(q.graph, s);
  const double sse_nearest = output_sse(build_qdq(s.fp, s.platform, s.act, s.weight, s.qdq).graph, s);
  EXPECT_LT(sse_learned, 0.8 * sse_nearest);
}

TEST(Brecq, BlocksAreTrainedOnTheGridWithLearnedStepsAndBeatNearest) { check_method(false); }
TEST(QDrop, BlocksAreTrainedOnTheGridWithLearnedStepsAndBeatNearest) { check_method(true); }

TEST(QDrop, DeterministicForASeedAndDifferentForAnother) {
  BlockSetup s;
  auto run = [&](uint64_t seed) {
    OnnxGraph g = s.fp.copy();
    ActRanges act = s.act;
    MemorySampleSource data(s.samples);
    transform::BrecqOptions o = quick(true);
    o.iters = 40;
    o.seed = seed;
    transform::brecq(g, s.fp, data, s.platform, act, s.weight, s.qdq, o, {});
    return std::make_pair(g.get_initializer("a1_w").to_f32_vector(), act.at("a1r").hi);
  };
  const auto a = run(3), b = run(3), c = run(4);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(QDrop, TheSameWhenItsCachesSpillAndNothingIsLeftBehind) {
  BlockSetup s;
  const fs::path dir = fs::temp_directory_path() / "dpl_qdrop_spill";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto run = [&](int64_t cache_bytes) {
    OnnxGraph g = s.fp.copy();
    ActRanges act = s.act;
    MemorySampleSource data(s.samples);
    transform::BrecqOptions o = quick(true);
    o.iters = 30;
    o.cache_dir = dir.string();
    o.cache_bytes = cache_bytes;
    transform::brecq(g, s.fp, data, s.platform, act, s.weight, s.qdq, o, {});
    return std::make_pair(g.get_initializer("b2_w").to_f32_vector(), act.at("b1r").hi);
  };
  // Three frontiers (quantized inputs, FP32 inputs, targets) share the budget: a third of it
  // holds two batches (16) of the largest row (8 x 8 x 8 floats: the old cut's and the new
  // one's) and a few single rows, but not all 48 samples.
  const auto in_memory = run(int64_t{64} << 20);
  const auto spilled = run(3 * (2 * 16 * 8 * 8 * 8 * 4 + 4096));
  EXPECT_EQ(in_memory, spilled);
  EXPECT_TRUE(fs::is_empty(dir)) << "a cache file was left behind";
  fs::remove_all(dir);
}

TEST(QDrop, DropProbabilityOneIsTheModelWithoutDrop) {
  BlockSetup s;
  const QdqModel q = build_qdq(s.fp, s.platform, s.act, s.weight, s.qdq);
  const auto blocks = transform::find_recon_blocks(s.fp, transform::BlockRule::Network);
  const transform::ReconBlock& block = blocks[1];  // a1, a2 and the Add
  transform::BlockModelOptions o;
  o.trained = {"a1_w", "a2_w"};
  const transform::BlockModel plain = transform::block_model(s.fp, block, q, o);
  o.drop = true;
  o.drop_prob = 1.0;
  const transform::BlockModel dropped = transform::block_model(s.fp, block, q, o);
  EXPECT_EQ(dropped.input_fp, block.input + "_fp");
  EXPECT_FALSE(dropped.seeds.empty());
  ASSERT_EQ(plain.scales.size(), dropped.scales.size());
  // The quantized activations: the block input (fixed), the Relu output read by a2 and the
  // block output (read by the next block's convolutions), both learned.
  ASSERT_EQ(plain.scales.size(), 3u);
  EXPECT_EQ(plain.scales[0].tensor, block.input);
  EXPECT_FALSE(plain.scales[0].learned);
  EXPECT_TRUE(plain.scales[1].learned);
  EXPECT_EQ(plain.scales[2].tensor, block.output);
  EXPECT_TRUE(plain.scales[2].learned);
  TensorMap feeds;
  feeds[block.input] = random_tensor({4, 8, 8, 8}, 5, 0.f, 2.f);
  for (const auto& w : plain.weights) feeds[w.tensor] = s.fp.get_initializer(w.tensor);
  for (const auto& sc : plain.scales)
    if (sc.learned) feeds[sc.input] = Tensor::scalar<float>(sc.scale);
  Session a(plain.graph);
  const Tensor ya = a.run(feeds, {plain.output}).at(plain.output).clone();
  feeds[dropped.input_fp] = random_tensor({4, 8, 8, 8}, 6, 0.f, 2.f);
  for (const auto& seed : dropped.seeds) feeds[seed] = Tensor::scalar<int64_t>(9);
  Session b(dropped.graph);
  const Tensor yb = b.run(feeds, {dropped.output}).at(dropped.output);
  EXPECT_EQ(ya.to_f32_vector(), yb.to_f32_vector());
  // At 0.5 the output moves (some elements take the float values).
  o.drop_prob = 0.5;
  Session c(transform::block_model(s.fp, block, q, o).graph);
  EXPECT_NE(ya.to_f32_vector(), c.run(feeds, {dropped.output}).at(dropped.output).to_f32_vector());
}

TEST(Brecq, ABlockWithoutABackwardPassFallsBackToItsLayers) {
  BlockSetup s;
  s.fp = residual_model(true);
  s.act = minmax_ranges(s.fp, s.samples);
  s.weight = weight_ranges(s.fp);
  OnnxGraph g = s.fp.copy();
  ActRanges act = s.act;
  MemorySampleSource data(s.samples);
  transform::BrecqOptions o = quick(false);
  o.iters = 30;
  const auto r = transform::brecq(g, s.fp, data, s.platform, act, s.weight, s.qdq, o, {});
  // The block a1 + a2 fails, naming Floor; then a1 and a2 are trained one by one.
  bool named = false;
  for (const auto& b : r.blocks) named = named || (!b.trained && b.note.find("Floor") != std::string::npos);
  EXPECT_TRUE(named);
  int a1 = 0, a2 = 0;
  for (const auto& b : r.blocks) {
    if (!b.trained) continue;
    a1 += b.description.find("layer block: a1 ") == 0;
    a2 += b.description.find("layer block: a2 ") == 0;
  }
  EXPECT_EQ(a1, 1);
  EXPECT_EQ(a2, 1);
  EXPECT_NE(g.get_initializer("a1_w").to_f32_vector(), s.fp.get_initializer("a1_w").to_f32_vector());
}

}  // namespace
}  // namespace dpl::test
