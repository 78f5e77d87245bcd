// Pooling kernels (src/runtime/ops/pool.cpp): MaxPool, AveragePool, the global pools and
// MaxUnpool with values worked out by hand, and the separable pooling path against a naive
// N-D reference written here, single- and multi-threaded.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

TEST(MaxPool, CeilModeWithPads) {
  // 4x4 of 1..16, 2x2 windows, stride 2, one leading pad: floor mode gives 2x2, ceil
  // mode 3x3 with row/column windows {0}, {1,2}, {3}.
  OpTester t("MaxPool");
  t.attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{1, 1, 0, 0})
      .attr("ceil_mode", int64_t{1});
  t.input<float>("X", {1, 1, 4, 4}, iota_f(16, 1.f));
  t.output<float>("Y", {1, 1, 3, 3}, {1, 3, 4, 9, 11, 12, 13, 15, 16});
  t.run();

  OpTester f("MaxPool");
  f.attr("kernel_shape", std::vector<int64_t>{2, 2})
      .attr("strides", std::vector<int64_t>{2, 2})
      .attr("pads", std::vector<int64_t>{1, 1, 0, 0});
  f.input<float>("X", {1, 1, 4, 4}, iota_f(16, 1.f));
  f.output<float>("Y", {1, 1, 2, 2}, {1, 3, 9, 11});
  f.run();
}

TEST(MaxPool, CeilModeDropsWindowStartingInEndPadding) {
  // in 5, k 2, s 2, pads 1/1: ceil((5+2-2)/2)+1 = 4 windows, but the 4th would start at
  // position 5 (in the trailing padding), so there are 3.
  OpTester t("MaxPool");
  t.attr("kernel_shape", std::vector<int64_t>{2})
      .attr("strides", std::vector<int64_t>{2})
      .attr("pads", std::vector<int64_t>{1, 1})
      .attr("ceil_mode", int64_t{1});
  t.input<float>("X", {1, 1, 5}, {1, 2, 3, 4, 5});
  t.output<float>("Y", {1, 1, 3}, {1, 3, 5});
  t.run();
}

TEST(MaxPool, IndicesRowAndColumnMajor) {
  // Two channels of 2x3, 2x2 windows, stride 1. Indices are flat over N*C*H*W.
  const std::vector<float> x = {1, 7, 2, 5, 3, 8, -1, -7, -2, -5, -3, -8};
  for (int64_t order : {0, 1}) {
    SCOPED_TRACE("storage_order " + std::to_string(order));
    OpTester t("MaxPool");
    t.attr("kernel_shape", std::vector<int64_t>{2, 2}).attr("storage_order", order);
    t.input<float>("X", {1, 2, 2, 3}, x);
    t.output<float>("Y", {1, 2, 1, 2}, {7, 8, -1, -2});
    if (order == 0) t.output<int64_t>("I", {1, 2, 1, 2}, {1, 5, 6, 8});
    else t.output<int64_t>("I", {1, 2, 1, 2}, {2, 5, 6, 10});
    t.run();
  }
}

TEST(MaxPool, Uint8) {
  OpTester t("MaxPool", 12);
  t.attr("kernel_shape", std::vector<int64_t>{2, 2});
  t.input<uint8_t>("X", {1, 1, 2, 3}, {1, 200, 3, 4, 5, 255});
  t.output<uint8_t>("Y", {1, 1, 1, 2}, {200, 255});
  t.run();
}

TEST(MaxUnpool, ScattersToIndices) {
  // Default shape (2 - 1) * 2 + 2 = 4 per axis; values land at the flat indices.
  OpTester t("MaxUnpool", 11);
  t.attr("kernel_shape", std::vector<int64_t>{2, 2}).attr("strides", std::vector<int64_t>{2, 2});
  t.input<float>("X", {1, 1, 2, 2}, {5, 6, 7, 8});
  t.input<int64_t>("I", {1, 1, 2, 2}, {5, 7, 13, 15});
  t.output<float>("Y", {1, 1, 4, 4}, {0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8});
  t.run();
  // A larger output_shape keeps the positions and pads at the end of each axis.
  OpTester p("MaxUnpool", 11);
  p.attr("kernel_shape", std::vector<int64_t>{2, 2}).attr("strides", std::vector<int64_t>{2, 2});
  p.input<float>("X", {1, 1, 2, 2}, {5, 6, 7, 8});
  p.input<int64_t>("I", {1, 1, 2, 2}, {5, 7, 13, 15});
  p.input<int64_t>("shape", {4}, {1, 1, 4, 5}, true);
  p.output<float>("Y", {1, 1, 4, 5}, {0, 0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, 0, 8, 0});
  p.run();
  OpTester bad("MaxUnpool", 11);
  bad.attr("kernel_shape", std::vector<int64_t>{2, 2}).attr("strides", std::vector<int64_t>{2, 2});
  bad.input<float>("X", {1, 1, 1, 1}, {5});
  bad.input<int64_t>("I", {1, 1, 1, 1}, {4});  // output has 4 elements
  bad.output<float>("Y", {1, 1, 2, 2}, {0, 0, 0, 0});
  EXPECT_THROW(bad.run_outputs(), Error);
}

TEST(AveragePool, CountIncludePadBothWays) {
  // 3x3 of 1..9, 3x3 windows, stride 2, pads 1: each output sees a 2x2 block of the
  // input; the divisor is 4 without padding, 9 with it.
  const std::vector<float> sums = {12, 16, 24, 28};
  for (int64_t inc : {0, 1}) {
    SCOPED_TRACE("count_include_pad " + std::to_string(inc));
    OpTester t("AveragePool");
    t.attr("kernel_shape", std::vector<int64_t>{3, 3})
        .attr("strides", std::vector<int64_t>{2, 2})
        .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
        .attr("count_include_pad", inc);
    t.input<float>("X", {1, 1, 3, 3}, iota_f(9, 1.f));
    std::vector<float> want;
    for (float s : sums) want.push_back(s / (inc ? 9.f : 4.f));
    t.output<float>("Y", {1, 1, 2, 2}, want);
    t.run();
  }
}

TEST(GlobalPool, AverageAndMax) {
  OpTester a("GlobalAveragePool");
  a.input<float>("X", {1, 2, 2, 2}, {1, 2, 3, 4, -1, -2, -3, 10});
  a.output<float>("Y", {1, 2, 1, 1}, {2.5f, 1.f});
  a.run();
  OpTester m("GlobalMaxPool");
  m.input<float>("X", {1, 2, 2, 2}, {1, 2, 3, 4, -1, -2, -3, 10});
  m.output<float>("Y", {1, 2, 1, 1}, {4.f, 10.f});
  m.run();
}

struct PoolCase {
  bool is_max;
  Shape x;  // N, C, spatial...
  std::vector<int64_t> k, s, d, pads;
  bool ceil = false, include_pad = false;
  std::string auto_pad = "NOTSET";
};

// Direct N-D pooling: every output visits its whole window with bounds checks.
std::pair<Shape, std::vector<float>> naive_pool(const PoolCase& c, const std::vector<float>& x) {
  const size_t m = c.k.size();
  std::vector<int64_t> out(m), pb(m), pe(m);
  for (size_t i = 0; i < m; ++i) {
    const int64_t in = c.x[i + 2], ke = (c.k[i] - 1) * c.d[i] + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[i] = (in + c.s[i] - 1) / c.s[i];
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * c.s[i] + ke - in);
      pb[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
    } else {
      pb[i] = c.pads[i];
      pe[i] = c.pads[i + m];
      const double span = static_cast<double>(in + pb[i] + pe[i] - ke) / static_cast<double>(c.s[i]);
      out[i] = static_cast<int64_t>(c.ceil ? std::ceil(span) : std::floor(span)) + 1;
      if (c.ceil && (out[i] - 1) * c.s[i] >= in + pb[i]) --out[i];
    }
  }
  Shape ys = {c.x[0], c.x[1]};
  for (auto o : out) ys.push_back(o);
  std::vector<float> y(shape_numel(ys));
  const int64_t nc = c.x[0] * c.x[1];
  int64_t in_slice = 1, out_slice = 1;
  for (size_t i = 0; i < m; ++i) in_slice *= c.x[i + 2], out_slice *= out[i];
  for (int64_t s = 0; s < nc; ++s) {
    for (int64_t oi = 0; oi < out_slice; ++oi) {
      std::vector<int64_t> o(m);
      for (int64_t r = oi, i = static_cast<int64_t>(m) - 1; i >= 0; --i) o[i] = r % out[i], r /= out[i];
      int64_t taps = 1;
      for (auto kk : c.k) taps *= kk;
      float best = -std::numeric_limits<float>::infinity(), sum = 0;
      int64_t count = 0, count_pad = 0;
      for (int64_t ti = 0; ti < taps; ++ti) {
        int64_t r = ti, off = 0;
        bool inside = true, inside_pad = true;
        for (int64_t i = static_cast<int64_t>(m) - 1; i >= 0; --i) {
          const int64_t j = r % c.k[i];
          r /= c.k[i];
          const int64_t pos = o[i] * c.s[i] - pb[i] + j * c.d[i];
          if (pos < 0 || pos >= c.x[i + 2]) inside = false;
          if (pos >= c.x[i + 2] + pe[i]) inside_pad = false;
          int64_t stride = 1;
          for (size_t q = i + 1; q < m; ++q) stride *= c.x[q + 2];
          off += pos * stride;
        }
        if (inside_pad) ++count_pad;
        if (!inside) continue;
        const float v = x[s * in_slice + off];
        best = std::max(best, v);
        sum += v;
        ++count;
      }
      y[s * out_slice + oi] = c.is_max ? best : sum / static_cast<float>(c.include_pad ? count_pad : count);
    }
  }
  return {ys, y};
}

TEST(Pool, SeparableMatchesNaiveReference) {
  const std::vector<PoolCase> cases = {
      {true, {2, 3, 7, 6}, {3, 2}, {2, 1}, {1, 2}, {1, 0, 1, 1}},
      {true, {2, 3, 7, 6}, {3, 2}, {2, 1}, {1, 2}, {1, 0, 1, 1}, true},
      {true, {1, 4, 13, 13}, {13, 13}, {1, 1}, {1, 1}, {6, 6, 6, 6}},  // YOLOX SPP
      {true, {1, 4, 13, 13}, {9, 9}, {1, 1}, {1, 1}, {4, 4, 4, 4}},
      {true, {1, 3, 16, 16}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},  // ResNet stem
      {true, {1, 2, 9}, {4}, {3}, {1}, {2, 1}, true},
      {true, {1, 2, 5, 6, 4}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1, 1, 0, 0}},
      {true, {1, 2, 7, 5}, {3, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false, false, "SAME_LOWER"},
      {true, {2, 3, 7, 5}, {3, 2}, {1, 1}, {2, 1}, {2, 0, 1, 1}},  // stride 1, dilated, uneven pads
      {true, {1, 2, 6, 9}, {2, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}, false, false, "SAME_UPPER"},
      {false, {2, 3, 7, 6}, {3, 2}, {2, 1}, {1, 1}, {1, 0, 1, 1}},
      {false, {2, 3, 7, 6}, {3, 2}, {2, 1}, {1, 1}, {1, 0, 1, 1}, false, true},
      {false, {2, 3, 7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, true},
      {false, {1, 2, 5, 6, 4}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1, 1, 0, 0}, false, true},
      {false, {1, 2, 8, 7}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false, true, "SAME_UPPER"},
  };
  with_threads([&] {
    for (size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE("case " + std::to_string(i));
      const PoolCase& c = cases[i];
      const auto x = random_f(shape_numel(c.x), 100 + static_cast<uint32_t>(i));
      auto [ys, y] = naive_pool(c, x);
      OpTester t(c.is_max ? "MaxPool" : "AveragePool");
      t.attr("kernel_shape", c.k).attr("strides", c.s);
      if (c.auto_pad == "NOTSET") t.attr("pads", c.pads);
      else t.attr("auto_pad", c.auto_pad);
      if (c.is_max) t.attr("dilations", c.d);
      if (c.ceil) t.attr("ceil_mode", int64_t{1});
      if (c.include_pad) t.attr("count_include_pad", int64_t{1});
      t.input<float>("X", c.x, x);
      t.output<float>("Y", ys, y);
      t.tolerance(1e-5, 1e-5);
      t.run();
    }
  });
}

TEST(Pool, HugePaddingIsRefusedBeforeItsWindowTablesAreAllocated) {
  // Found by fuzz_model (constant folding a MaxPool): 2^40 of padding asked for tap tables of
  // 2^39 outputs (4 TB) before the output tensor was checked against the budget.
  OpTester t("MaxPool");
  t.attr("kernel_shape", std::vector<int64_t>{1, 1}).attr("pads", std::vector<int64_t>{0, 0, int64_t{1} << 40, 0});
  t.input<float>("X", {1, 1, 2, 2}, iota_f(4, 1.f));
  t.output<float>("Y", {1, 1, 1, 1}, {0});
  try {
    t.run_outputs();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("window tables"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--max_tensor_mb"), std::string::npos) << e.what();
  }
}

TEST(Pool, BadAttributesAreOneLineErrors) {
  OpTester t("MaxPool");
  t.attr("kernel_shape", std::vector<int64_t>{5, 5});
  t.input<float>("X", {1, 1, 3, 3}, iota_f(9, 1.f));
  t.output<float>("Y", {1, 1, 1, 1}, {0});
  EXPECT_THROW(t.run_outputs(), Error);
}

}  // namespace
}  // namespace dpl::test
