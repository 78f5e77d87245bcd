// Softmax, LogSoftmax and Hardmax (src/runtime/ops/softmax.cpp): opset 11's flattening
// against opset 13's single axis, LogSoftmax on large numbers, Hardmax.
#include <gtest/gtest.h>

#include <cmath>
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

}  // namespace
}  // namespace dpl::test
