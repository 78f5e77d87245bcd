// Softmax, LogSoftmax and Hardmax (src/runtime/ops/softmax.cpp): opset 11's flattening
// against opset 13's single axis, LogSoftmax on large numbers, Hardmax.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>
#include <limits>

#include "runtime/op_tester.h"

namespace dpl::test {
namespace {

TEST(Softmax, Opset11FlattensOpset13UsesOneAxis) {
  const std::vector<float> x = {0, 1, 2, 3};
  // Default axes: opset 13 -> last axis; opset 11 -> axis 1 flattened ([1, 4] here).
  {
    OpTester t("Softmax", 13);
    t.input<float>("X", {1, 2, 2}, x);
    t.output<float>("Y", {1, 2, 2}, {0.2689414f, 0.7310586f, 0.2689414f, 0.7310586f});
    t.run();
  }
  {
    OpTester t("Softmax", 11);
    t.input<float>("X", {1, 2, 2}, x);
    t.output<float>("Y", {1, 2, 2}, {0.0320586f, 0.0871443f, 0.2368828f, 0.6439142f});
    t.run();
  }
  // Same explicit axis=1, different meaning.
  {
    OpTester t("Softmax", 13);
    t.attr("axis", int64_t{1});
    t.input<float>("X", {1, 2, 2}, x);
    t.output<float>("Y", {1, 2, 2}, {0.1192029f, 0.1192029f, 0.8807971f, 0.8807971f});
    t.run();
  }
  {
    OpTester t("Softmax", 11);
    t.attr("axis", int64_t{1});
    t.input<float>("X", {1, 2, 2}, x);
    t.output<float>("Y", {1, 2, 2}, {0.0320586f, 0.0871443f, 0.2368828f, 0.6439142f});
    t.run();
  }
}

TEST(Softmax, LogSoftmaxLargeNumbersAndHardmax) {
  OpTester l("LogSoftmax", 13);
  l.input<float>("X", {1, 2}, {1000.f, 1000.f});
  l.output<float>("Y", {1, 2}, {-0.6931472f, -0.6931472f});
  l.run();
  OpTester h("Hardmax", 13);
  h.input<float>("X", {2, 3}, {1, 3, 3, 2, 0, 1});
  h.output<float>("Y", {2, 3}, {0, 1, 0, 1, 0, 0});
  h.run();
}

// Rows of 2..7 values go 16 at a time through a transposed kernel: every length, a row
// count that leaves a partial group, very large and very negative values and an infinity,
// against softmax computed in double per row.
TEST(Softmax, ShortRowsInGroupsMatchTheDefinition) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    const bool log = std::string(op) == "LogSoftmax";
    for (int len = 2; len <= 8; ++len) {
      SCOPED_TRACE(std::string(op) + " len " + std::to_string(len));
      const int rows = 37;
      std::vector<float> x(static_cast<size_t>(rows * len)), y(x.size());
      for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * float(i)) * 6.f + float(i % 3);
      x[5] = 1e30f, x[7] = -1e30f, x[len * 20 + 1] = -std::numeric_limits<float>::infinity();
      for (int r = 0; r < rows; ++r) {
        const float* xr = &x[static_cast<size_t>(r * len)];
        double m = xr[0], sum = 0;
        for (int j = 1; j < len; ++j) m = std::max(m, double(xr[j]));
        for (int j = 0; j < len; ++j) sum += std::exp(double(xr[j]) - m);
        for (int j = 0; j < len; ++j)
          y[static_cast<size_t>(r * len + j)] = static_cast<float>(
              log ? (double(xr[j]) - m) - std::log(sum) : std::exp(double(xr[j]) - m) / sum);
      }
      OpTester t(op, 13);
      t.input<float>("X", {rows, len}, x);
      t.output<float>("Y", {rows, len}, y);
      t.run();
    }
  }
}

}  // namespace
}  // namespace dpl::test
