// Observers and their loops on small tensors with values worked out by hand, and against
// straightforward references written here (double precision, one element at a time).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <utility>

#include "calib/observer_hist.h"
#include "calib/observer_minmax.h"
#include "calib/observer_octav.h"
#include "calib/stat_kernels.h"
#include "graph/model_builder.h"
#include "runtime/parallel.h"

namespace dpl::test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// A range as {lo, hi}: both ends compared in one expectation.
std::pair<float, float> lo_hi(const Range& r) { return {r.lo, r.hi}; }

Tensor vec(std::vector<float> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<float>({n}, v);
}

// The formula of docs/spec.md 4 as written, in double, one element at a time.
struct RefOctav {
  double s;
  int steps;
};
RefOctav octav_reference(const float* x, int64_t n, int bits, bool dynamic_sym) {
  double lo = INFINITY, sum = 0;
  int64_t nonzero = 0;
  std::vector<double> a;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    lo = std::min(lo, static_cast<double>(x[i]));
    a.push_back(std::fabs(static_cast<double>(x[i])));
    sum += a.back();
    nonzero += a.back() > 0;
  }
  const double u = dynamic_sym && std::fabs(lo) < 1e-6 ? 4 : 1;
  const double eps = std::pow(4.0, -bits) / 3 / u;
  if (nonzero == 0) return {std::nan(""), 0};
  double s = sum / nonzero;
  int steps = 0;
  for (int it = 0; it < 20; ++it) {
    double above_sum = 0, above = 0, below = 0;
    for (double v : a) {
      if (v > s)
        above_sum += v, above += 1;
      else
        below += 1;
    }
    const double next = above_sum / (eps * below + above);
    ++steps;
    if (std::fabs(next - s) < 1e-6) break;
    s = next;
  }
  return {s, steps};
}

class Threads : public ::testing::Test {
 protected:
  void SetUp() override { set_num_threads(2); }
  void TearDown() override { set_num_threads(1); }
};

TEST(MinMaxObserver, TracksFiniteMinAndMaxOverCalls) {
  MinMaxObserver mm;
  mm.observe("t", vec({-1.f, 3.f, kNaN, kInf, 2.f}), 1);
  mm.observe("t", vec({0.5f, -kInf, -2.5f}), 1);
  mm.observe("t", vec({1.f, 2.f}), 1);
  mm.observe("shape", Tensor::from_vector<int64_t>({2}, {-7, 9}), 1);  // not a float tensor
  mm.observe("nan", vec({kNaN, kInf}), 1);
  const ActRanges r = mm.ranges();
  ASSERT_EQ(r.count("t"), 1u);
  EXPECT_EQ(r.at("t").lo, -2.5f);
  EXPECT_EQ(r.at("t").hi, 3.f);
  EXPECT_EQ(r.count("shape"), 0u);
  EXPECT_EQ(r.count("nan"), 0u);  // no finite value: no range
}

TEST_F(Threads, FiniteMinMaxOfLargeDataMatchesALoop) {
  for (int64_t n : {int64_t{1}, int64_t{17}, int64_t{16384}, int64_t{100003}}) {
    Tensor t = random_tensor({n}, 7 + n, -3.f, 5.f);
    float* d = t.data<float>();
    if (n > 100) d[n / 3] = kNaN, d[n / 2] = -kInf, d[n - 1] = 77.f;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; ++i)
      if (std::isfinite(d[i])) lo = std::min<double>(lo, d[i]), hi = std::max<double>(hi, d[i]);
    const auto mm = calib::finite_minmax(d, n);
    EXPECT_EQ(mm.lo, lo) << n;
    EXPECT_EQ(mm.hi, hi) << n;
  }
}

// minmax [-4, 2] -> amax 4; 4 bins of width 1 over |x|.
HistObserver hist_of(const std::vector<float>& v, int bins = 4) {
  MinMaxObserver mm;
  mm.observe("t", vec(v), 1);
  HistObserver h(mm, bins);
  h.observe("t", vec(v), 1);
  return h;
}

TEST(HistObserver, CountsAbsoluteValuesByHand) {
  // |x| = 4 (last bin: clamped), 3.5, 0.2, 0.7, 1.5, 2 -> bins [2, 1, 1, 2]; NaN/Inf dropped.
  HistObserver h = hist_of({-4.f, -3.5f, 0.2f, 0.7f, 1.5f, 2.f, kNaN});
  EXPECT_EQ(h.counts("t"), (std::vector<uint64_t>{2, 1, 1, 2}));
}

TEST(HistObserver, ThresholdReachedExactlyPicksThatBin) {
  HistObserver h = hist_of({-4.f, -3.5f, 0.2f, 0.7f, 1.5f, 2.f});
  // Cumulative shares 2/6, 3/6, 4/6, 6/6. Threshold 0.5 is reached (equal) at bin 1:
  // c = 1.5 * 4 / 4 = 1.5 -> [max(-1.5, -4), min(1.5, 2)].
  EXPECT_EQ(lo_hi(h.ranges(0.5).at("t")), std::make_pair(-1.5f, 1.5f));
  // Just above 0.5: bin 2, c = 2.5 -> [-2.5, min(2.5, 2)].
  EXPECT_EQ(lo_hi(h.ranges(0.5000001).at("t")), std::make_pair(-2.5f, 2.f));
  // First bin already enough: c = 0.5.
  EXPECT_EQ(lo_hi(h.ranges(0.3).at("t")), std::make_pair(-0.5f, 0.5f));
  // Never reached: the min/max range.
  EXPECT_EQ(lo_hi(h.ranges(1.5).at("t")), std::make_pair(-4.f, 2.f));
  // 1.0 is reached by the last bin: c = 3.5 -> [-3.5, 2].
  EXPECT_EQ(lo_hi(h.ranges(1.0).at("t")), std::make_pair(-3.5f, 2.f));
}

TEST(HistObserver, AllZeroTensorGivesZeroRangeWithoutDividingByZero) {
  HistObserver h = hist_of({0.f, 0.f, -0.f}, 2048);
  EXPECT_EQ(h.counts("t")[0], 3u);
  EXPECT_EQ(lo_hi(h.ranges(0.99999).at("t")), std::make_pair(0.f, 0.f));
}

TEST(HistObserver, UnobservedTensorKeepsItsMinMaxRange) {
  MinMaxObserver mm;
  mm.observe("t", vec({-1.f, 2.f}), 1);
  HistObserver h(mm, 16);
  EXPECT_EQ(lo_hi(h.ranges(0.9).at("t")), std::make_pair(-1.f, 2.f));
}

TEST_F(Threads, AbsHistogramOfLargeDataMatchesALoop) {
  for (int64_t n : {int64_t{5}, int64_t{5000}, int64_t{70001}}) {
    Tensor t = random_tensor({n}, 3 + n, -2.f, 1.f);
    float* d = t.data<float>();
    for (int64_t i = 0; i < n; i += 7) d[i] = 0.f;  // runs of one bin
    if (n > 100) d[1] = kNaN, d[2] = kInf, d[3] = -2.f;
    const int bins = 37;
    const float amax = 2.f;
    std::vector<uint64_t> want(bins), got(bins);
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(d[i])) continue;
      const float f = std::fabs(d[i]) * (static_cast<float>(bins) / amax);
      ++want[std::min(bins - 1, static_cast<int>(f))];
    }
    calib::abs_histogram(d, n, amax, bins, got.data());
    EXPECT_EQ(got, want) << n;
  }
}

TEST_F(Threads, AbsHistogramTailCountsTheBulkAndBinsTheRest) {
  for (int64_t n : {int64_t{100}, int64_t{70001}}) {
    Tensor t = random_tensor({n}, 9 + n, -2.f, 2.f);
    float* d = t.data<float>();
    d[5] = kNaN, d[6] = -kInf;
    const int bins = 64, from = 50;
    std::vector<uint64_t> full(bins), tail(bins);
    uint64_t below = 0;
    calib::abs_histogram(d, n, 2.f, bins, full.data());
    calib::abs_histogram_tail(d, n, 2.f, bins, from, tail.data(), &below);
    uint64_t want_below = 0;
    for (int k = 0; k < from; ++k) {
      want_below += full[k];
      EXPECT_EQ(tail[k], 0u);
    }
    for (int k = from; k < bins; ++k) EXPECT_EQ(tail[k], full[k]) << n << " bin " << k;
    EXPECT_EQ(below, want_below) << n;
  }
}

TEST(HistObserver, CutKeepsTheRangesOfFullHistograms) {
  // Heavy-tailed samples of 20000 values: with threshold 0.9999 only the top values need
  // exact bins.
  MinMaxObserver mm;
  std::vector<Tensor> data;
  for (int i = 0; i < 8; ++i) {
    Tensor t = random_tensor({20000}, 40 + i, -1.f, 1.f);
    for (int64_t j = 0; j < t.numel(); j += 97) t.data<float>()[j] *= 30.f;
    data.push_back(t);
    mm.observe("t", t, 1);
  }
  for (double thr : {0.9999, 0.99999, 1.0}) {
    HistObserver full(mm, 2048), cut(mm, 2048, thr);
    for (const auto& t : data) full.observe("t", t, 1), cut.observe("t", t, 1);
    EXPECT_GT(cut.cut("t"), 0) << thr;
    EXPECT_TRUE(cut.unresolved(thr).empty()) << thr;
    EXPECT_EQ(cut.ranges(thr).at("t").hi, full.ranges(thr).at("t").hi) << thr;
    EXPECT_EQ(cut.ranges(thr).at("t").lo, full.ranges(thr).at("t").lo) << thr;
  }
}

TEST(HistObserver, ThresholdBelowTheCutIsReportedAndStatesWithOtherCutsMerge) {
  // Sample 0 spreads over [0, 100]; the 99 later ones sit at 0.5. Threshold 0.99 keeps
  // exact bins for sample 0's top ~700 values, but the final 1% of 100000 values reaches
  // below them.
  std::vector<Tensor> data;
  data.push_back(random_tensor({1000}, 3, 0.f, 100.f));
  for (int i = 1; i < 100; ++i) data.push_back(Tensor::from_vector<float>({1000}, std::vector<float>(1000, 0.5f)));
  MinMaxObserver mm;
  for (const auto& t : data) mm.observe("t", t, 1);
  HistObserver cut(mm, 2048, 0.99), full(mm, 2048);
  for (const auto& t : data) cut.observe("t", t, 1), full.observe("t", t, 1);
  EXPECT_GT(cut.cut("t"), 0);
  EXPECT_EQ(cut.unresolved(0.99), std::vector<std::string>{"t"});
  EXPECT_THROW(cut.ranges(0.99), Error);
  EXPECT_TRUE(cut.unresolved(0.999).empty());  // the top 0.1% is above the cut
  EXPECT_EQ(cut.ranges(0.999).at("t").hi, full.ranges(0.999).at("t").hi);
  HistObserver redo(mm, 2048);
  redo.restrict_to(cut.unresolved(0.99));
  for (const auto& t : data) redo.observe("t", t, 1);
  cut.replace(redo);
  EXPECT_EQ(cut.ranges(0.99).at("t").hi, full.ranges(0.99).at("t").hi);

  // Two halves with different cuts merge into the same ranges.
  HistObserver a(mm, 2048, 0.999), b(mm, 2048, 0.999);
  for (int i = 0; i < 100; ++i) (i < 50 ? a : b).observe("t", data[i], 1);  // b starts with flat data
  EXPECT_NE(a.cut("t"), b.cut("t"));
  a.merge_serialized(b.serialize());
  EXPECT_EQ(a.ranges(0.999).at("t").hi, full.ranges(0.999).at("t").hi);
  EXPECT_EQ(a.below("t") + [&] {
    uint64_t s = 0;
    for (uint64_t c : a.counts("t")) s += c;
    return s;
  }(), 100000u);
}

TEST(Octav, HandWorkedIteration) {
  // x = {1, 2, 3, 10}, 8 bits, eps = 4^-8 / 3 = 1/196608.
  // s0 = 16 / 4 = 4; above 4: {10}, 3 below: s1 = 10 / (3/196608 + 1) = 1966080/196611.
  // Above s1: {10} again, so s2 = s1: converged after 2 steps, s = s1.
  std::vector<float> x = {1.f, 2.f, 3.f, 10.f};
  auto r = calib::octav_clip(x.data(), 1, 4, 8, false);
  EXPECT_DOUBLE_EQ(r[0].s, 1966080.0 / 196611.0);
  EXPECT_EQ(r[0].steps, 2);
  EXPECT_EQ(r[0].range.lo, 1.f);
  EXPECT_EQ(r[0].range.hi, 10.f);

  OctavObserver o(8, false);
  o.observe("t", vec(x), 1);
  const Range range = o.ranges().at("t");
  EXPECT_EQ(range.lo, 1.f);  // max(1, -s)
  EXPECT_EQ(range.hi, static_cast<float>(1966080.0 / 196611.0));
}

TEST(Octav, DynamicSymUsesOneMoreBitWhenTheMinIsZero) {
  // x = {0, 1, 2, 3, 10}: s0 = 16 / 4 (zeros are not counted); 4 values <= s0 with
  // eps = 4^-8/3/4: s1 = 10 / (4/786432 + 1) = 1966080/196609.
  std::vector<float> x = {0.f, 1.f, 2.f, 3.f, 10.f};
  EXPECT_DOUBLE_EQ(calib::octav_clip(x.data(), 1, 5, 8, true)[0].s, 1966080.0 / 196609.0);
  // Without dynamic_sym: 10 / (4/196608 + 1).
  EXPECT_DOUBLE_EQ(calib::octav_clip(x.data(), 1, 5, 8, false)[0].s, 1966080.0 / 196612.0);
  // The bit width is a parameter: 4 bits, eps = 1/768.
  EXPECT_DOUBLE_EQ(calib::octav_clip(x.data(), 1, 5, 4, false)[0].s, 7680.0 / 772.0);
}

TEST(Octav, OscillationStopsAfterTwentySteps) {
  // All equal: s0 = 5, nothing above -> s1 = 0, everything above -> s2 = 5, ... s20 = 5.
  std::vector<float> x(6, 5.f);
  auto r = calib::octav_clip(x.data(), 1, 6, 8, false);
  EXPECT_EQ(r[0].steps, 20);
  EXPECT_EQ(r[0].s, 5.0);
}

TEST(Octav, AllZeroSampleFallsBackToMinMaxAsTheOriginal) {
  // The original's s0 = 0/0 is NaN, which makes the mean NaN and the range the min/max one.
  OctavObserver o;
  o.observe("t", vec({0.f, 0.f, 0.f}), 1);
  o.observe("t", vec({1.f, 2.f, 3.f, 10.f}), 1);
  EXPECT_EQ(lo_hi(o.ranges().at("t")), std::make_pair(0.f, 10.f));
  EXPECT_EQ(o.entries().at("t").nan_samples, 1);
}

TEST_F(Threads, MatchesTheStraightforwardFormulaOnRandomData) {
  for (int64_t n : {int64_t{10}, int64_t{1000}, int64_t{40000}}) {
    for (bool dyn : {false, true}) {
      Tensor t = random_tensor({3, n}, 11 + n, dyn ? 0.f : -1.f, 1.f);
      float* d = t.data<float>();
      // Heavy tails and exact zeros, like activations.
      for (int64_t i = 0; i < 3 * n; i += 13) d[i] *= 9.f;
      for (int64_t i = 0; i < 3 * n; i += 5) d[i] = 0.f;
      auto got = calib::octav_clip(d, 3, n, 8, dyn);
      for (int p = 0; p < 3; ++p) {
        const RefOctav want = octav_reference(d + p * n, n, 8, dyn);
        EXPECT_NEAR(got[p].s, want.s, 1e-7 * want.s) << n << " part " << p;
        EXPECT_EQ(got[p].steps, want.steps) << n << " part " << p;
      }
    }
  }
}

TEST(Octav, SplitsABatchIntoSamples) {
  // Two samples of 4 stacked on axis 0: the same as observing them one at a time.
  OctavObserver batched, single;
  batched.observe("t", Tensor::from_vector<float>({2, 4}, {1.f, 2.f, 3.f, 10.f, -1.f, 0.5f, 0.25f, -4.f}), 2);
  single.observe("t", Tensor::from_vector<float>({1, 4}, {1.f, 2.f, 3.f, 10.f}), 1);
  single.observe("t", Tensor::from_vector<float>({1, 4}, {-1.f, 0.5f, 0.25f, -4.f}), 1);
  const auto& b = batched.entries().at("t");
  const auto& s = single.entries().at("t");
  EXPECT_EQ(b.samples, 2);
  EXPECT_EQ(b.sum_s, s.sum_s);
  EXPECT_EQ(b.mm.lo, s.mm.lo);
  EXPECT_EQ(b.mm.hi, s.mm.hi);
}

TEST(Octav, ValueWithoutTheBatchOnAxisZeroCountsForEverySample) {
  // dim 0 = 3 is not a multiple of 2 samples: one clip, standing for both.
  OctavObserver batched, single;
  Tensor v = vec({1.f, 2.f, 10.f});
  batched.observe("t", v, 2);
  single.observe("t", v, 1);
  single.observe("t", v, 1);
  EXPECT_EQ(batched.entries().at("t").samples, 2);
  EXPECT_EQ(batched.entries().at("t").sum_s, single.entries().at("t").sum_s);
  const SampleSplit split = split_samples(v, 2);
  EXPECT_EQ(split.parts, 1);
  EXPECT_EQ(split.weight, 2);
}

TEST(Observers, MergeAndSerializedMergeEqualOnePass) {
  std::vector<Tensor> data;
  for (int i = 0; i < 6; ++i) data.push_back(random_tensor({1, 300}, 100 + i, -1.f - i, 2.f + 0.5f * i));
  auto feed = [&](Observer& o, int b, int e) {
    for (int i = b; i < e; ++i) o.observe("t", data[i], 1);
  };
  MinMaxObserver all, a, b;
  feed(all, 0, 6), feed(a, 0, 2), feed(b, 2, 6);
  MinMaxObserver viaBytes;
  viaBytes.merge_serialized(a.serialize());
  viaBytes.merge_serialized(b.serialize());
  a.merge(b);
  EXPECT_EQ(a.ranges().at("t").lo, all.ranges().at("t").lo);
  EXPECT_EQ(a.ranges().at("t").hi, all.ranges().at("t").hi);
  EXPECT_EQ(viaBytes.ranges().at("t").lo, all.ranges().at("t").lo);
  EXPECT_EQ(viaBytes.ranges().at("t").hi, all.ranges().at("t").hi);

  HistObserver hall(all, 64), ha(all, 64), hb(all, 64), hbytes(all, 64);
  feed(hall, 0, 6), feed(ha, 0, 3), feed(hb, 3, 6);
  hbytes.merge_serialized(ha.serialize());
  hbytes.merge_serialized(hb.serialize());
  ha.merge(hb);
  EXPECT_EQ(ha.counts("t"), hall.counts("t"));
  EXPECT_EQ(hbytes.counts("t"), hall.counts("t"));
  // Histograms over another min/max state cannot be merged.
  MinMaxObserver other;
  other.observe("t", vec({-100.f, 100.f}), 1);
  HistObserver hother(other, 64);
  EXPECT_THROW(hall.merge(hother), Error);
  EXPECT_THROW(hall.merge(all), Error);

  OctavObserver oall, oa, ob, obytes;
  feed(oall, 0, 6), feed(oa, 0, 4), feed(ob, 4, 6);
  obytes.merge_serialized(oa.serialize());
  obytes.merge_serialized(ob.serialize());
  oa.merge(ob);
  for (const OctavObserver* o : {&oa, &obytes}) {
    EXPECT_EQ(o->entries().at("t").samples, 6);
    EXPECT_NEAR(o->entries().at("t").sum_s, oall.entries().at("t").sum_s, 1e-12 * oall.entries().at("t").sum_s);
    EXPECT_FLOAT_EQ(o->ranges().at("t").lo, oall.ranges().at("t").lo);
  }
  EXPECT_THROW(oa.merge_serialized(a.serialize()), Error);
  EXPECT_THROW(oa.merge_serialized("OCT"), Error);
}

}  // namespace
}  // namespace dpl::test
