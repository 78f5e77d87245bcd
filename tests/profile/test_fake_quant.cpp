// dpl.FakeQuantize (profile/fake_quant_op.cpp) must give, bit for bit, what the runtime's
// QuantizeLinear followed by DequantizeLinear gives: profiling runs it in place of the pairs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "graph/model_builder.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

Tensor run_one(const OnnxGraph& g, const Tensor& x) { return Session(g).run({{"x", x}}).at("y"); }

void expect_same_bits(float scale, Tensor zp) {
  std::vector<float> v;
  // Values on and next to every rounding tie (k + 0.5) * scale, the clamp ends, far out,
  // zero, signed zero, and NaN / Inf.
  for (int k = -300; k <= 300; ++k) {
    const float t = (static_cast<float>(k) + 0.5f) * scale;
    v.push_back(t);
    v.push_back(std::nextafter(t, 1e30f));
    v.push_back(std::nextafter(t, -1e30f));
    v.push_back(static_cast<float>(k) * scale);
  }
  for (float f : {0.f, -0.f, 1e7f, -1e7f, 3e38f, -3e38f, 4194304.f * scale, -4194304.f * scale,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN()})
    v.push_back(f);
  Tensor r = random_tensor({1, 5000}, 7, -200.f * scale, 200.f * scale);
  for (int64_t i = 0; i < r.numel(); ++i) v.push_back(r.data<float>()[i]);
  Tensor x = Tensor::from_vector<float>({1, static_cast<int64_t>(v.size())}, v);

  auto build = [&](bool fused) {
    ModelBuilder b;
    b.input("x", {1, x.dim(1)}).init("s", Tensor::scalar<float>(scale)).init("z", zp);
    if (fused) b.node("dpl.FakeQuantize", {"x", "s", "z"}, {"y"});
    else b.node("QuantizeLinear", {"x", "s", "z"}, {"q"}).node("DequantizeLinear", {"q", "s", "z"}, {"y"});
    b.output("y");
    return b.graph();
  };
  Tensor ref = run_one(build(false), x), got = run_one(build(true), x);
  ASSERT_EQ(ref.numel(), got.numel());
  int bad = 0;
  for (int64_t i = 0; i < ref.numel() && bad < 5; ++i)
    if (std::memcmp(&ref.data<float>()[i], &got.data<float>()[i], sizeof(float)) != 0) {
      ADD_FAILURE() << "x = " << v[i] << ": QuantizeLinear+DequantizeLinear " << ref.data<float>()[i]
                    << ", FakeQuantize " << got.data<float>()[i];
      ++bad;
    }
}

TEST(FakeQuantize, Int8SameBitsAsQuantizeDequantize) { expect_same_bits(0.0473f, Tensor::scalar<int8_t>(0)); }
TEST(FakeQuantize, Int8WithZeroPoint) { expect_same_bits(1.0f / 127.0f, Tensor::scalar<int8_t>(-3)); }
TEST(FakeQuantize, Uint8Asymmetric) { expect_same_bits(0.0123f, Tensor::scalar<uint8_t>(117)); }
TEST(FakeQuantize, PowerOfTwoScale) { expect_same_bits(0.0625f, Tensor::scalar<int8_t>(0)); }

}  // namespace
}  // namespace dpl::test
