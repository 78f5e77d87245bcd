// Values for the backward-pass tests (test_*_grad.cpp): random inputs away from an op's
// kinks, and distinct, well-spaced values for ops that pick a maximum, so that the
// central differences of OpTester::check_gradient never straddle a kink or a tie.
#pragma once
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "runtime/op_tester.h"

namespace dpl::test {

// n uniform values in [lo, hi) from `seed`, each at least `margin` from every kink.
inline std::vector<float> grad_values(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f,
                                      const std::vector<float>& kinks = {}, float margin = 0.05f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v;
  while (static_cast<int64_t>(v.size()) < n) {
    const float x = d(rng);
    bool near = false;
    for (float k : kinks) near = near || std::fabs(x - k) < margin;
    if (!near) v.push_back(x);
  }
  return v;
}

// The values spacing * (0 .. n-1) - spacing * n / 2 in a random order: all distinct by
// `spacing`, which must exceed the checker's step.
inline std::vector<float> spaced_values(int64_t n, uint32_t seed, float spacing = 0.05f) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = spacing * static_cast<float>(i - n / 2);
  std::shuffle(v.begin(), v.end(), std::mt19937(seed));
  return v;
}

}  // namespace dpl::test
