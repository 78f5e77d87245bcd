// The Reduce* kernels (src/runtime/ops/reduce.cpp): values worked out by hand, and every
// subset of axes (the merged-axis fast paths) against a naive reference written here,
// single- and multi-threaded.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

TEST(Reduce, ValuesByHand) {
  {
    OpTester t("ReduceSum", 13);  // axes as an input
    t.attr("keepdims", int64_t{0});
    t.input<float>("X", {2, 3}, {1, 2, 3, 4, 5, 6});
    t.input<int64_t>("axes", {1}, {-1});
    t.output<float>("Y", {2}, {6, 15});
    t.run();
  }
  {
    OpTester t("ReduceSum", 13);  // empty axes with noop: identity
    t.attr("noop_with_empty_axes", int64_t{1});
    t.input<float>("X", {2, 2}, {1, 2, 3, 4});
    t.input<int64_t>("axes", {0}, {});
    t.output<float>("Y", {2, 2}, {1, 2, 3, 4});
    t.run();
  }
  {
    OpTester t("ReduceMean", 13);  // no axes: everything, keepdims
    t.input<float>("X", {2, 2}, {1, 2, 3, 6});
    t.output<float>("Y", {1, 1}, {3});
    t.run();
  }
  {
    OpTester t("ReduceMax", 13);
    t.attr("axes", std::vector<int64_t>{0});
    t.input<int32_t>("X", {2, 2}, {1, -7, 3, -9});
    t.output<int32_t>("Y", {1, 2}, {3, -7});
    t.run();
  }
  {
    OpTester t("ReduceLogSumExp", 13);  // stable for large values
    t.attr("axes", std::vector<int64_t>{1}).attr("keepdims", int64_t{0});
    t.input<float>("X", {1, 2}, {1000.f, 1000.f});
    t.output<float>("Y", {1}, {1000.6931472f});
    t.run();
  }
  {
    OpTester t("ReduceProd", 13);
    t.attr("axes", std::vector<int64_t>{0});
    t.input<int64_t>("X", {3, 1}, {2, -3, 4});
    t.output<int64_t>("Y", {1, 1}, {-24});
    t.run();
  }
}

TEST(Reduce, EveryAxisSubsetMatchesNaiveReference) {
  const Shape shape = {3, 4, 5, 2};
  const auto x = random_f(shape_numel(shape), 7, 0.1f, 2.f);
  const std::vector<std::string> ops = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                        "ReduceL1",  "ReduceL2",   "ReduceSumSquare", "ReduceLogSumExp"};
  with_threads([&] {
    for (int mask = 1; mask < 16; ++mask) {
      for (int keep : {0, 1}) {
        std::vector<int64_t> axes;
        Shape ys;
        for (int i = 0; i < 4; ++i) {
          if (mask >> i & 1) {
            axes.push_back(i - (i % 2 ? 4 : 0));  // mix negative and positive axes
            if (keep) ys.push_back(1);
          } else {
            ys.push_back(shape[i]);
          }
        }
        for (const auto& op : ops) {
          SCOPED_TRACE(op + " mask " + std::to_string(mask) + " keepdims " + std::to_string(keep));
          // Naive: every element to its output slot.
          const int64_t n_out = shape_numel(ys);
          std::vector<double> sum(n_out, 0), sq(n_out, 0), ab(n_out, 0), ex(n_out, 0);
          std::vector<double> mx(n_out, -1e300), mn(n_out, 1e300);
          std::vector<int64_t> cnt(n_out, 0);
          for (int64_t i = 0; i < shape_numel(shape); ++i) {
            int64_t r = i, o = 0, ostride = 1;
            for (int d = 3; d >= 0; --d) {
              const int64_t c = r % shape[d];
              r /= shape[d];
              if (!(mask >> d & 1)) o += c * ostride, ostride *= shape[d];
            }
            const double v = x[i];
            sum[o] += v, sq[o] += v * v, ab[o] += std::fabs(v), ex[o] += std::exp(v);
            mx[o] = std::max(mx[o], v), mn[o] = std::min(mn[o], v), ++cnt[o];
          }
          std::vector<float> want(n_out);
          for (int64_t o = 0; o < n_out; ++o) {
            double w = 0;
            if (op == "ReduceSum") w = sum[o];
            else if (op == "ReduceMean") w = sum[o] / static_cast<double>(cnt[o]);
            else if (op == "ReduceMax") w = mx[o];
            else if (op == "ReduceMin") w = mn[o];
            else if (op == "ReduceL1") w = ab[o];
            else if (op == "ReduceL2") w = std::sqrt(sq[o]);
            else if (op == "ReduceSumSquare") w = sq[o];
            else w = std::log(ex[o]);
            want[o] = static_cast<float>(w);
          }
          OpTester t(op, 13);
          t.attr("keepdims", static_cast<int64_t>(keep));
          t.input<float>("X", shape, x);
          if (op == "ReduceSum") t.input<int64_t>("axes", {static_cast<int64_t>(axes.size())}, axes);
          else t.attr("axes", axes);
          t.output<float>("Y", ys, want);
          t.tolerance(1e-5, 1e-5);
          t.run();
        }
      }
    }
  });
}

}  // namespace
}  // namespace dpl::test
