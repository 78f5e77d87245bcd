// Broadcasting helper: output shapes, the collapsed iteration plans of the common patterns,
// and run-by-run iteration checked element by element against a naive index computation.
#include <gtest/gtest.h>

#include <random>

#include "runtime/broadcast.h"
#include "runtime/parallel.h"

namespace dpl::test {
namespace {

TEST(BroadcastShape, Rules) {
  EXPECT_EQ(broadcast_shape({2, 3, 4}, {3, 1}), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shape({}, {5}), (Shape{5}));
  EXPECT_EQ(broadcast_shape({1, 4}, {3, 1}), (Shape{3, 4}));
  EXPECT_EQ(broadcast_shape({2, 0, 3}, {1, 3}), (Shape{2, 0, 3}));
  EXPECT_EQ(broadcast_shapes({{5, 1, 1}, {1, 6, 1}, {7}}), (Shape{5, 6, 7}));
  EXPECT_THROW(broadcast_shape({2, 3}, {4}), Error);
  EXPECT_TRUE(broadcasts_to({3, 1, 1}, {2, 3, 4, 5}));
  EXPECT_FALSE(broadcasts_to({2, 3, 4, 5}, {3, 1, 1}));
  EXPECT_FALSE(broadcasts_to({4}, {4, 5}));
  EXPECT_EQ(per_axis_shape({2, 3, 4, 5}, 1), (Shape{1, 3, 1, 1}));
  EXPECT_EQ(per_axis_shape({2, 3, 4, 5}, -1), (Shape{1, 1, 1, 5}));
  EXPECT_THROW(per_axis_shape({2, 3}, 2), Error);
}

TEST(BroadcastPlan, CollapsesCommonPatterns) {
  const Shape x{2, 3, 4, 5};
  {  // same shape: one contiguous run
    BroadcastPlan p({&x, &x}, x);
    EXPECT_EQ(p.collapsed_dims(), (std::vector<int64_t>{120}));
    EXPECT_TRUE(p.all_contiguous());
  }
  {  // scalar operand
    const Shape s{};
    BroadcastPlan p({&x, &s}, x);
    EXPECT_EQ(p.collapsed_dims(), (std::vector<int64_t>{120}));
    EXPECT_FALSE(p.scalar_in_run(0));
    EXPECT_TRUE(p.scalar_in_run(1));
  }
  for (const Shape& c : {Shape{3, 1, 1}, Shape{1, 3, 1, 1}}) {  // per channel: runs of H*W
    BroadcastPlan p({&x, &c}, x);
    EXPECT_EQ(p.collapsed_dims(), (std::vector<int64_t>{2, 3, 20}));
    EXPECT_TRUE(p.scalar_in_run(1));
  }
  {  // [N,C,H,W] * [N,C,1,1] (squeeze-excitation)
    const Shape se{2, 3, 1, 1};
    BroadcastPlan p({&x, &se}, x);
    EXPECT_EQ(p.collapsed_dims(), (std::vector<int64_t>{6, 20}));
    EXPECT_TRUE(p.scalar_in_run(1));
  }
  {  // channels last: [N,H,W,C] + [C]
    const Shape c{5};
    BroadcastPlan p({&x, &c}, x);
    EXPECT_EQ(p.collapsed_dims(), (std::vector<int64_t>{24, 5}));
    EXPECT_FALSE(p.scalar_in_run(1));
  }
  {  // scalar output
    const Shape s{}, one{1, 1};
    BroadcastPlan p({&s, &one}, one);
    EXPECT_EQ(p.numel(), 1);
    EXPECT_EQ(p.collapsed_dims(), (std::vector<int64_t>{1}));
  }
  const Shape bad{4};
  EXPECT_THROW(BroadcastPlan({&x, &bad}, x), Error);
}

// Offset of output element `o` in an input of shape `in` broadcast to `out`, by unravelling.
int64_t naive_offset(int64_t o, const Shape& in, const Shape& out) {
  const size_t lead = out.size() - in.size();
  int64_t off = 0, stride = 1;
  for (int k = static_cast<int>(out.size()) - 1; k >= 0; --k) {
    const int64_t idx = o % out[k];
    o /= out[k];
    if (k >= static_cast<int>(lead)) {
      const int64_t d = in[k - lead];
      if (d != 1) off += idx * stride;
      stride *= d;
    }
  }
  return off;
}

TEST(BroadcastPlan, RunsMatchNaiveIndexing) {
  const std::vector<std::vector<Shape>> cases = {
      {{2, 3, 4, 5}, {3, 1, 1}, {5}},
      {{4, 1, 6}, {1, 5, 1}, {}},
      {{1, 3, 1, 7}, {2, 1, 4, 1}, {2, 3, 4, 7}},
      {{6}, {6}, {6}},
      {{2, 1, 3, 1, 2}, {1, 4, 1, 5, 1}, {4, 3, 5, 2}},
  };
  std::mt19937 rng(7);
  for (const auto& c : cases) {
    const Shape out = broadcast_shapes(c);
    BroadcastPlan p({&c[0], &c[1], &c[2]}, out);
    const int64_t n = shape_numel(out);
    // Whole range and arbitrary sub-ranges starting and ending inside runs.
    std::vector<std::pair<int64_t, int64_t>> ranges = {{0, n}};
    for (int r = 0; r < 20; ++r) {
      int64_t b = std::uniform_int_distribution<int64_t>(0, n)(rng);
      int64_t e = std::uniform_int_distribution<int64_t>(b, n)(rng);
      ranges.emplace_back(b, e);
    }
    for (auto [b, e] : ranges) {
      int64_t next = b;
      p.for_each_run(b, e, [&](int64_t o, const int64_t* off, int64_t len) {
        ASSERT_EQ(o, next);
        ASSERT_GT(len, 0);
        for (int64_t i = 0; i < len; ++i)
          for (int j = 0; j < 3; ++j)
            ASSERT_EQ(off[j] + (p.scalar_in_run(j) ? 0 : i), naive_offset(o + i, c[j], out))
                << "input " << j << " output element " << o + i << " out " << shape_str(out);
        next = o + len;
      });
      EXPECT_EQ(next, e);
    }
  }
}

// Every combination of contiguous / repeated operands in the binary and ternary loops.
TEST(BroadcastBinary, AllRunKindsMatchNaive) {
  const std::vector<Shape> shapes = {{3, 4, 5}, {4, 1}, {5}, {}, {3, 1, 1}, {1, 4, 5}};
  auto values = [](const Shape& s, int seed) {
    std::vector<int32_t> v(shape_numel(s));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int32_t>((i * 37 + seed * 11) % 101) - 50;
    return v;
  };
  for (const Shape& sa : shapes)
    for (const Shape& sb : shapes) {
      const Shape out = broadcast_shape(sa, sb);
      const auto a = values(sa, 1), b = values(sb, 2);
      std::vector<int32_t> y(shape_numel(out));
      broadcast_binary<int32_t, int32_t, int32_t>(a.data(), sa, b.data(), sb, y.data(), out,
                                                  [](int32_t p, int32_t q) { return 3 * p - q; });
      for (int64_t o = 0; o < shape_numel(out); ++o)
        ASSERT_EQ(y[o], 3 * a[naive_offset(o, sa, out)] - b[naive_offset(o, sb, out)])
            << shape_str(sa) << " op " << shape_str(sb) << " element " << o;
      for (const Shape& sc : shapes) {
        const Shape out3 = broadcast_shape(out, sc);
        const auto c = values(sc, 3);
        std::vector<int32_t> z(shape_numel(out3));
        broadcast_ternary<int32_t, int32_t, int32_t, int32_t>(
            a.data(), sa, b.data(), sb, c.data(), sc, z.data(), out3,
            [](int32_t p, int32_t q, int32_t r) { return p * 10000 + q * 100 + r; });
        for (int64_t o = 0; o < shape_numel(out3); ++o)
          ASSERT_EQ(z[o], a[naive_offset(o, sa, out3)] * 10000 + b[naive_offset(o, sb, out3)] * 100 +
                              c[naive_offset(o, sc, out3)])
              << shape_str(sa) << ", " << shape_str(sb) << ", " << shape_str(sc) << " element " << o;
      }
    }
}

TEST(BroadcastBinary, ThreadedChannelPatternMatchesNaive) {
  // Large enough to be split over threads, with chunk edges inside runs.
  const Shape x{3, 16, 37, 29}, c{16, 1, 1};
  const int64_t n = shape_numel(x);
  std::vector<float> a(n), b(16), y(n);
  for (int64_t i = 0; i < n; ++i) a[i] = static_cast<float>(i % 1000) * 0.5f;
  for (int i = 0; i < 16; ++i) b[i] = static_cast<float>(i + 1);
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    broadcast_binary<float, float, float>(a.data(), x, b.data(), c, y.data(), x,
                                          [](float p, float q) { return p * q; });
    for (int64_t i = 0; i < n; ++i) {
      const int64_t ch = (i / (37 * 29)) % 16;
      ASSERT_EQ(y[i], a[i] * b[ch]) << "threads " << t << " element " << i;
    }
  }
  set_num_threads(1);
}

}  // namespace
}  // namespace dpl::test
