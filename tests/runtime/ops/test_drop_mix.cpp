// dpl.DropMix (runtime/ops/drop_mix.cpp): QDrop's element-wise random mix. The mask must be
// a fair coin of the requested bias, fresh for every seed, repeatable for the same seed and
// thread count, and the backward must route dL/dy by it.
#include <gtest/gtest.h>

#include <cmath>

#include "grad_test_util.h"
#include "graph/model_builder.h"
#include "runtime/parallel.h"

namespace dpl::test {
namespace {

// y and mask of a = 1, b = 0: y is the mask as floats.
TensorMap mix(float prob, int64_t seed, int64_t n) {
  ModelBuilder b(13);
  b.input("a", {n}).input("b", {n}).input("seed", {}, DType::I64);
  b.node("dpl.DropMix", {"a", "b", "seed"}, {"y", "mask"}, "mix").attr("prob", prob);
  b.output("y").output("mask", DType::U8);
  Session s(b.graph());
  return s.run({{"a", Tensor::from_vector<float>({n}, std::vector<float>(n, 1.f))},
                {"b", Tensor::zeros(DType::F32, {n})},
                {"seed", Tensor::scalar<int64_t>(seed)}});
}

TEST(DropMix, MaskIsACoinOfTheRequestedBias) {
  const int64_t n = 200000;
  for (float p : {0.5f, 0.1f, 0.9f}) {
    SCOPED_TRACE(p);
    TensorMap r = mix(p, 42, n);
    const auto y = r.at("y").to_f32_vector();
    const uint8_t* m = r.at("mask").data<uint8_t>();
    double taken = 0;
    int64_t runs_equal = 0;  // neighbours with the same draw: p^2 + (1-p)^2 of them when independent
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(y[i], m[i] ? 1.f : 0.f) << i;
      taken += m[i];
      if (i) runs_equal += m[i] == m[i - 1];
    }
    const double sd = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(taken / n, p, 5 * sd);
    EXPECT_NEAR(double(runs_equal) / (n - 1), p * p + (1 - p) * (1 - p), 0.01);
  }
  // The ends: always a, always b.
  EXPECT_EQ(mix(1.f, 3, 1000).at("y").to_f32_vector(), std::vector<float>(1000, 1.f));
  EXPECT_EQ(mix(0.f, 3, 1000).at("y").to_f32_vector(), std::vector<float>(1000, 0.f));
}

TEST(DropMix, FreshPerSeedSameForTheSameSeedAndAnyThreadCount) {
  const int64_t n = 50000;
  const auto a = mix(0.5f, 7, n).at("y").to_f32_vector();
  const auto b = mix(0.5f, 8, n).at("y").to_f32_vector();
  int64_t same = 0;
  for (int64_t i = 0; i < n; ++i) same += a[i] == b[i];
  EXPECT_NEAR(double(same) / n, 0.5, 0.02);  // two seeds agree as two independent coins do
  const int before = num_threads();
  set_num_threads(1);
  const auto one = mix(0.5f, 7, n).at("y").to_f32_vector();
  set_num_threads(before);
  EXPECT_EQ(a, one);
}

TEST(DropMixGrad, RoutesTheGradientByTheMask) {
  OpTester t("dpl.DropMix");
  t.attr("prob", 0.5f);
  t.input<float>("a", {2, 3, 4}, grad_values(24, 1));
  t.input<float>("b", {2, 3, 4}, grad_values(24, 2));
  t.input<int64_t>("seed", {}, {11});
  t.output("y").output("mask");
  t.check_gradient();
}

TEST(DropMix, BadInputsAreNamed) {
  OpTester t("dpl.DropMix");
  t.attr("prob", 0.5f);
  t.input<float>("a", {4}, {1, 2, 3, 4});
  t.input<float>("b", {3}, {1, 2, 3});
  t.input<int64_t>("seed", {}, {1});
  t.output("y").output("mask");
  try {
    t.run_outputs();
    ADD_FAILURE() << "a and b of different shapes were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("differ in shape"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dpl::test
