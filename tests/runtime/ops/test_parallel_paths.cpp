// Several normalization, pooling and softmax kernels on tensors large enough that they
// split their loops across threads, against naive references computed here.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

// Larger tensors, so the kernels split their loops across threads, against naive
// references computed here.
TEST(NnOps, ParallelPathsMatchNaiveReferences) {
  const Shape xs = {2, 16, 40, 40};
  const int64_t n = xs[0], c = xs[1], sp = xs[2] * xs[3];
  const auto x = random_f(shape_numel(xs), 5);
  const auto s = random_f(c, 6), b = random_f(c, 7), m = random_f(c, 8), v = random_f(c, 9, 0.5f, 2.f);
  std::vector<float> bn(x.size()), gap(n * c), inorm(x.size()), sm(x.size()), ln(x.size());
  std::vector<int64_t> am(n * sp);
  for (int64_t i = 0; i < n * c; ++i) {
    const int64_t ch = i % c;
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < sp; ++j) sum += x[i * sp + j];
    const double mean = sum / sp;
    for (int64_t j = 0; j < sp; ++j) sq += (x[i * sp + j] - mean) * (x[i * sp + j] - mean);
    const double sd = std::sqrt(sq / sp + 1e-5);
    gap[i] = static_cast<float>(mean);
    for (int64_t j = 0; j < sp; ++j) {
      const float xv = x[i * sp + j];
      bn[i * sp + j] = (xv - m[ch]) / std::sqrt(v[ch] + 1e-5f) * s[ch] + b[ch];
      inorm[i * sp + j] = static_cast<float>((xv - mean) / sd * s[ch] + b[ch]);
    }
  }
  // Softmax over the channel axis (opset 13, axis 1) and ArgMax over it.
  for (int64_t bi = 0; bi < n; ++bi)
    for (int64_t j = 0; j < sp; ++j) {
      double mx = -1e30, den = 0;
      int64_t arg = 0;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float xv = x[(bi * c + ch) * sp + j];
        if (xv > mx) mx = xv, arg = ch;
      }
      for (int64_t ch = 0; ch < c; ++ch) den += std::exp(x[(bi * c + ch) * sp + j] - mx);
      for (int64_t ch = 0; ch < c; ++ch)
        sm[(bi * c + ch) * sp + j] = static_cast<float>(std::exp(x[(bi * c + ch) * sp + j] - mx) / den);
      am[bi * sp + j] = arg;
    }
  // LayerNormalization over the last two axes, no scale/bias variation.
  for (int64_t r = 0; r < n * c; ++r) {
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < sp; ++j) sum += x[r * sp + j];
    const double mean = sum / sp;
    for (int64_t j = 0; j < sp; ++j) sq += (x[r * sp + j] - mean) * (x[r * sp + j] - mean);
    const double inv = 1.0 / std::sqrt(sq / sp + 1e-5);
    for (int64_t j = 0; j < sp; ++j) ln[r * sp + j] = static_cast<float>((x[r * sp + j] - mean) * inv);
  }
  with_threads([&] {
    {
      OpTester t("BatchNormalization");
      t.input<float>("X", xs, x).input<float>("s", {c}, s, true).input<float>("b", {c}, b, true);
      t.input<float>("m", {c}, m, true).input<float>("v", {c}, v, true);
      t.output<float>("Y", xs, bn).tolerance(1e-5, 1e-5);
      t.run();
    }
    {
      OpTester t("GlobalAveragePool");
      t.input<float>("X", xs, x).output<float>("Y", {n, c, 1, 1}, gap).tolerance(1e-5, 1e-5);
      t.run();
    }
    {
      OpTester t("InstanceNormalization");
      t.input<float>("X", xs, x).input<float>("s", {c}, s).input<float>("b", {c}, b);
      t.output<float>("Y", xs, inorm).tolerance(1e-4, 1e-4);
      t.run();
    }
    {
      OpTester t("Softmax", 13);
      t.attr("axis", int64_t{1}).input<float>("X", xs, x).output<float>("Y", xs, sm).tolerance(1e-5, 1e-6);
      t.run();
    }
    {
      OpTester t("ArgMax", 13);
      t.attr("axis", int64_t{1}).attr("keepdims", int64_t{0}).input<float>("X", xs, x);
      t.output<int64_t>("Y", {n, xs[2], xs[3]}, am);
      t.run();
    }
    {
      OpTester t("LayerNormalization", 17);
      t.attr("axis", int64_t{-2}).input<float>("X", xs, x).input<float>("W", {xs[2], 1}, std::vector<float>(xs[2], 1.f));
      t.output<float>("Y", xs, ln).tolerance(1e-4, 1e-4);
      t.run();
    }
  });
}

}  // namespace
}  // namespace dpl::test
