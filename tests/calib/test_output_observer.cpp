// -A lp, kl and output through calibrate_activations on small graphs run by the real runtime:
// the output-aware choice follows what the consumer does with the tail (ReduceMax keeps it,
// an element-wise consumer clips it as the Lp search does), merging halves equals one pass,
// batches do not change the ranges, per-tensor bits reach every method.
#include <gtest/gtest.h>

#include <random>

#include "calib/act_range_search.h"
#include "calib/observer_output.h"
#include "calib/observer_range_hist.h"
#include "calib/sample_source.h"
#include "calib/tensor_cali.h"
#include "graph/model_builder.h"

namespace dpl::test {
namespace {

// x[N,1000] -> Relu -> r (graph output); x -> ReduceMax -> m (graph output) when with_max.
OnnxGraph graph(bool with_max) {
  ModelBuilder b(13);
  b.input("x", {1, 1000});
  if (with_max) {
    b.node("ReduceMax", {"x"}, {"m"}, "max").attr("axes", std::vector<int64_t>{1}).attr("keepdims", int64_t{1});
    b.output("m");
  } else {
    b.node("Relu", {"x"}, {"r"}, "relu");
    b.output("r");
  }
  return b.graph();
}

// Laplace values with one large value per sample (the signal ReduceMax passes on).
std::vector<TensorMap> samples(int n) {
  std::vector<TensorMap> s;
  std::mt19937_64 rng(3);
  std::exponential_distribution<float> e(1.f);
  for (int i = 0; i < n; ++i) {
    Tensor t(DType::F32, {1, 1000});
    for (int k = 0; k < 1000; ++k) t.data<float>()[k] = (k % 2 ? -1.f : 1.f) * e(rng);
    t.data<float>()[i % 1000] = 20.f + i;
    s.push_back({{"x", t}});
  }
  return s;
}

ActRanges calibrate(const OnnxGraph& g, CaliAlgo algo, int batch = 1, int n = 6, int bits = 8) {
  MemorySampleSource src(samples(n));
  CaliOptions o;
  o.algo = algo;
  o.batch = batch;
  o.bits = bits;
  return calibrate_activations(g, src, o);
}

TEST(CaliOutput, ParsesTheNewAlgorithmNames) {
  EXPECT_EQ(parse_cali_algo("lp"), CaliAlgo::Lp);
  EXPECT_EQ(parse_cali_algo("kl"), CaliAlgo::Kl);
  EXPECT_EQ(parse_cali_algo("output"), CaliAlgo::Output);
  EXPECT_THROW(parse_cali_algo("percentile"), Error);
}

TEST(CaliOutput, ConsumerThatKeepsTheTailGetsTheMinMaxRange) {
  // At 4 bits the Lp search clips the one large value per sample (it costs (20 - c)^2.4 once
  // per 1000 values, while min/max rounds most of the Laplace bulk to 0).
  const OnnxGraph g = graph(true);
  const ActRanges mm = calibrate(g, CaliAlgo::MinMax), lp = calibrate(g, CaliAlgo::Lp, 1, 6, 4),
                  out = calibrate(g, CaliAlgo::Output, 1, 6, 4);
  EXPECT_LT(lp.at("x").hi, 0.7f * mm.at("x").hi);
  // ReduceMax outputs exactly the large values: the widest candidates keep them.
  EXPECT_GT(out.at("x").hi, 0.85f * mm.at("x").hi);
  // An element-wise consumer takes the clip (Relu passes the bulk on).
  const ActRanges relu = calibrate(graph(false), CaliAlgo::Output, 1, 6, 4);
  EXPECT_LT(relu.at("x").hi, 0.7f * mm.at("x").hi);
}

TEST(CaliOutput, ElementwiseConsumerClipsTheTail) {
  const OnnxGraph g = graph(false);
  const ActRanges mm = calibrate(g, CaliAlgo::MinMax), out = calibrate(g, CaliAlgo::Output);
  EXPECT_LT(out.at("x").hi, mm.at("x").hi);
  EXPECT_LT(out.at("r").hi, mm.at("r").hi);  // a graph output: its own (identity) consumer
}

TEST(CaliOutput, KlAndLpClipInsideMinMaxAndUseEachTensorsBits) {
  const OnnxGraph g = graph(false);
  const ActRanges mm = calibrate(g, CaliAlgo::MinMax);
  for (CaliAlgo algo : {CaliAlgo::Lp, CaliAlgo::Kl, CaliAlgo::Output}) {
    const ActRanges r8 = calibrate(g, algo), r4 = calibrate(g, algo, 1, 6, 4);
    for (const auto& [name, m] : mm) {
      EXPECT_GE(r8.at(name).lo, m.lo) << name;
      EXPECT_LE(r8.at(name).hi, m.hi) << name;
      EXPECT_LT(r8.at(name).hi, m.hi) << name << " " << static_cast<int>(algo);
      // Fewer levels: a tighter clip pays (the Lp criterion; KL's divergence has no such order).
      if (algo == CaliAlgo::Lp) {
        EXPECT_LE(r4.at(name).hi, r8.at(name).hi) << name;
      }
    }
  }
  // Per-tensor bits: only x at 4 bits.
  MemorySampleSource src(samples(6));
  CaliOptions o;
  o.algo = CaliAlgo::Lp;
  o.tensor_bits["x"] = 4;
  const ActRanges mixed = calibrate_activations(g, src, o);
  EXPECT_EQ(mixed.at("x").hi, calibrate(g, CaliAlgo::Lp, 1, 6, 4).at("x").hi);
  EXPECT_EQ(mixed.at("r").hi, calibrate(g, CaliAlgo::Lp).at("r").hi);
}

TEST(CaliOutput, BatchSizeDoesNotChangeTheRanges) {
  for (bool with_max : {true, false})
    for (CaliAlgo algo : {CaliAlgo::Lp, CaliAlgo::Kl, CaliAlgo::Output}) {
      const OnnxGraph g = graph(with_max);
      const ActRanges one = calibrate(g, algo, 1, 7), four = calibrate(g, algo, 4, 7);
      for (const auto& [name, r] : one) {
        EXPECT_EQ(four.at(name).lo, r.lo) << name;
        EXPECT_EQ(four.at(name).hi, r.hi) << name;
      }
    }
}

TEST(CaliOutput, MergedHalvesEqualOnePass) {
  const OnnxGraph g = graph(false);
  MemorySampleSource src(samples(7));
  SampleSlice first(src, 0, 3), second(src, 3, 4);
  Session s(g);
  CaliOptions o;
  o.batch = 2;
  MinMaxObserver mm;
  observe_pass(s, src, mm, o, "mm");

  RangeHistObserver all(mm, 256), a(mm, 256), b(mm, 256);
  observe_pass(s, src, all, o, "all");
  observe_pass(s, first, a, o, "first");
  observe_pass(s, second, b, o, "second");
  a.merge_serialized(b.serialize());
  for (const auto& name : all.tensors()) EXPECT_EQ(a.histogram(name).counts, all.histogram(name).counts) << name;

  const ActRanges lp = lp_ranges(all, o);
  std::map<std::string, OutputErrorObserver::Target> targets;
  for (auto& [name, c] : output_candidates(lp, mm, 5)) targets[name] = {c, act_grid(o, name, lp.at(name).lo)};
  OutputErrorObserver oall(g, targets, 1), oa(g, targets, 1), ob(g, targets, 1);
  observe_pass(s, src, oall, o, "all");
  observe_pass(s, first, oa, o, "first");
  observe_pass(s, second, ob, o, "second");
  oa.merge_serialized(ob.serialize());
  for (const std::string name : {"x", "r"}) {
    const auto want = oall.scores(name), got = oa.scores(name);
    ASSERT_EQ(want.size(), 5u) << name;
    ASSERT_EQ(got.size(), 5u) << name;
    for (size_t c = 0; c < want.size(); ++c) EXPECT_NEAR(got[c], want[c], 1e-9 * want[c]) << name << " " << c;
  }
  EXPECT_THROW(oa.merge(mm), Error);
}

}  // namespace
}  // namespace dpl::test
