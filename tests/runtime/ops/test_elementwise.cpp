// Elementwise kernels: broadcasting patterns, Clip/PRelu/Cast/Round/Mod details worked out
// by hand, the vectorized float32 Exp/Sigmoid/Tanh against double-precision libm, and the
// float16 conformance cases whose outputs the generic harness cannot compare yet.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>

#include "graph/tensor_proto.h"
#include "runtime/op_tester.h"
#include "runtime/ops/elementwise.h"
#include "runtime/parallel.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

// Runs `body` with 1 and with 2 threads, restoring 1.
void each_thread_count(const std::function<void()>& body) {
  for (int t : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(t));
    set_num_threads(t);
    body();
  }
  set_num_threads(1);
}

// ---- broadcasting patterns -------------------------------------------------------------

TEST(Add, ScalarOperandEitherSide) {
  OpTester t("Add");
  t.input<float>("A", {2, 3}, {1, 2, 3, 4, 5, 6});
  t.input<float>("B", {}, {10});
  t.output<float>("C", {2, 3}, {11, 12, 13, 14, 15, 16});
  t.run();
  OpTester u("Sub");
  u.input<float>("A", {}, {10});
  u.input<float>("B", {2, 3}, {1, 2, 3, 4, 5, 6});
  u.output<float>("C", {2, 3}, {9, 8, 7, 6, 5, 4});
  u.run();
}

TEST(Mul, PerChannel) {
  // [1,2,2,2] * [2,1,1]: channel 0 times 2, channel 1 times -1; and [1,2,1,1] (SE block).
  for (Shape cs : {Shape{2, 1, 1}, Shape{1, 2, 1, 1}}) {
    OpTester t("Mul");
    t.input<float>("A", {1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    t.input<float>("B", cs, {2, -1}, /*constant=*/true);
    t.output<float>("C", {1, 2, 2, 2}, {2, 4, 6, 8, -5, -6, -7, -8});
    t.run();
  }
}

TEST(Div, RowBroadcastAndScalar) {
  OpTester t("Div");
  t.input<float>("A", {2, 3}, {2, 4, 6, 8, 10, 12});
  t.input<float>("B", {3}, {2, 4, 8});
  t.output<float>("C", {2, 3}, {1, 1, 0.75f, 4, 2.5f, 1.5f});
  t.run();
  OpTester s("Div");
  s.input<float>("A", {4}, {1, -3, 5, 0});
  s.input<float>("B", {1}, {4});
  s.output<float>("C", {4}, {0.25f, -0.75f, 1.25f, 0});
  s.run();
}

TEST(Add, BothSidesWiden) {
  // [2,1] + [1,3] -> [2,3]
  OpTester t("Add");
  t.input<int32_t>("A", {2, 1}, {10, 20});
  t.input<int32_t>("B", {1, 3}, {1, 2, 3});
  t.output<int32_t>("C", {2, 3}, {11, 12, 13, 21, 22, 23});
  t.run();
}

TEST(Add, IncompatibleShapesAreAnError) {
  OpTester t("Add");
  t.input<float>("A", {2, 3}, {1, 2, 3, 4, 5, 6});
  t.input<float>("B", {2}, {1, 2});
  t.output<float>("C", {2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_THROW(t.run_outputs(), Error);
}

TEST(Where, ThreeWayBroadcast) {
  // cond [2,1], X [1,3], Y scalar -> [2,3]
  OpTester t("Where");
  t.input<bool>("C", {2, 1}, {true, false});
  t.input<float>("X", {1, 3}, {1, 2, 3});
  t.input<float>("Y", {}, {-1});
  t.output<float>("Z", {2, 3}, {1, 2, 3, -1, -1, -1});
  t.run();
  // cond [3], X [2,1], Y [2,3]
  OpTester u("Where");
  u.input<bool>("C", {3}, {true, false, true});
  u.input<int64_t>("X", {2, 1}, {7, 8});
  u.input<int64_t>("Y", {2, 3}, {1, 2, 3, 4, 5, 6});
  u.output<int64_t>("Z", {2, 3}, {7, 2, 7, 8, 5, 8});
  u.run();
}

TEST(Max, ThreeInputsBroadcastAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  OpTester t("Max");
  t.input<float>("A", {2, 2}, {1, 5, nan, 0});
  t.input<float>("B", {2}, {3, 2});
  t.input<float>("C", {}, {4});
  t.output<float>("Y", {2, 2}, {4, 5, nan, 4});
  t.run();
  OpTester m("Mean");
  m.input<float>("A", {2}, {1, 2});
  m.input<float>("B", {2, 1}, {3, 6});
  m.input<float>("C", {}, {0});
  m.output<float>("Y", {2, 2}, {4.f / 3, 5.f / 3, 7.f / 3, 8.f / 3});
  m.run();
  OpTester s("Sum");
  s.input<int32_t>("A", {3}, {1, 2, 3});
  s.output<int32_t>("Y", {3}, {1, 2, 3});
  s.run();
}

// ---- Clip --------------------------------------------------------------------------------

TEST(Clip, OmittedMin) {
  OpTester t("Clip");
  t.input<float>("X", {5}, {-5, -1, 0, 2, 9});
  t.omitted_input();
  t.input<float>("max", {}, {1.5f});
  t.output<float>("Y", {5}, {-5, -1, 0, 1.5f, 1.5f});
  t.run();
}

TEST(Clip, BothBoundsInt8AndInverted) {
  OpTester t("Clip");
  t.input<int8_t>("X", {4}, {-128, -3, 4, 127});
  t.input<int8_t>("min", {}, {-2});
  t.input<int8_t>("max", {}, {3});
  t.output<int8_t>("Y", {4}, {-2, -2, 3, 3});
  t.run();
  // min > max: every value becomes max.
  OpTester u("Clip");
  u.input<float>("X", {3}, {-1, 0.5f, 7});
  u.input<float>("min", {}, {2});
  u.input<float>("max", {}, {1});
  u.output<float>("Y", {3}, {1, 1, 1});
  u.run();
}

TEST(Clip, Opset6Attributes) {
  OpTester t("Clip", 6);
  t.attr("min", -1.0f).attr("max", 6.0f);
  t.input<float>("X", {4}, {-3, 0.25f, 6.5f, 5});
  t.output<float>("Y", {4}, {-1, 0.25f, 6, 5});
  t.run();
  OpTester d("Clip", 6);  // no attributes: no clipping
  d.input<float>("X", {2}, {-1e30f, 1e30f});
  d.output<float>("Y", {2}, {-1e30f, 1e30f});
  d.run();
}

// ---- PRelu -------------------------------------------------------------------------------

TEST(PRelu, PerChannelSlope) {
  // x [1,2,2,2], slope [2,1,1] = {0.5, -2}: negatives of channel 0 halve, of channel 1 flip x2.
  OpTester t("PRelu");
  t.input<float>("X", {1, 2, 2, 2}, {-4, 2, -1, 0, -3, 3, 0.5f, -0.5f});
  t.input<float>("slope", {2, 1, 1}, {0.5f, -2}, /*constant=*/true);
  t.output<float>("Y", {1, 2, 2, 2}, {-2, 2, -0.5f, 0, 6, 3, 0.5f, 1});
  t.run();
}

// ---- Cast --------------------------------------------------------------------------------

TEST(Cast, FloatToInt8TruncatesTowardZero) {
  OpTester t("Cast");
  t.attr("to", int64_t{3});  // int8
  t.input<float>("X", {9}, {-2.7f, -0.5f, 0.5f, 1.5f, 2.5f, 2.99f, 127.9f, -128.9f, -0.0f});
  t.output<int8_t>("Y", {9}, {-2, 0, 0, 1, 2, 2, 127, -128, 0});
  t.run();
  // Out of range: through int32 then wrapped, as an x86 build of ONNX Runtime does.
  OpTester w("Cast");
  w.attr("to", int64_t{3});
  w.input<float>("X", {2}, {300.f, -200.f});
  w.output<int8_t>("Y", {2}, {44, 56});
  w.run();
}

TEST(Cast, IntBoolAndDouble) {
  OpTester t("Cast");
  t.attr("to", int64_t{9});  // bool
  t.input<float>("X", {4}, {0.f, -0.f, 0.1f, std::numeric_limits<float>::quiet_NaN()});
  t.output<bool>("Y", {4}, {false, false, true, true});
  t.run();
  OpTester u("Cast");
  u.attr("to", int64_t{2});  // uint8 from int32 wraps
  u.input<int32_t>("X", {3}, {-1, 256, 130});
  u.output<uint8_t>("Y", {3}, {255, 0, 130});
  u.run();
  OpTester d("Cast");
  d.attr("to", int64_t{7});  // int64 from double
  d.input<double>("X", {3}, {-3.99, 1e12 + 0.5, 42.0});
  d.output<int64_t>("Y", {3}, {-3, 1000000000000, 42});
  d.run();
}

TEST(Cast, Float16RoundsHalfToEven) {
  OpTester t("Cast");
  t.attr("to", int64_t{10});  // float16
  const float tie = 1.0f + std::ldexp(1.0f, -11);      // halfway between 1 and next half: even is 1
  const float tie_up = 1.0f + 3 * std::ldexp(1.0f, -11);  // halfway, even neighbour above
  t.input<float>("X", {8}, {1.0f, -2.0f, 65504.f, 65520.f, tie, tie_up, std::ldexp(1.0f, -24), std::ldexp(1.0f, -25)});
  t.output<float>("Y", {8}, {0, 0, 0, 0, 0, 0, 0, 0});  // compared by bits below
  Tensor y = t.run_outputs().at("Y");
  ASSERT_EQ(y.dtype(), DType::F16);
  const uint16_t* h = y.data<uint16_t>();
  const std::vector<uint16_t> want = {0x3C00, 0xC000, 0x7BFF, 0x7C00, 0x3C00, 0x3C02, 0x0001, 0x0000};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(h[i], want[i]) << "element " << i;
  for (uint16_t v : want) {  // and back exactly
    const uint16_t r = ew::f32_to_f16(ew::f16_to_f32(v));
    EXPECT_EQ(r, v);
  }
}

// ---- unary details -----------------------------------------------------------------------

TEST(Round, HalfToEven) {
  OpTester t("Round");
  t.input<float>("X", {7}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f});
  t.output<float>("Y", {7}, {0, 2, 2, -0.f, -2, 2, -3});
  t.run();
}

TEST(Mod, IntegerSignFollowsDivisorUnlessFmod) {
  OpTester t("Mod");
  t.input<int32_t>("A", {5}, {-4, 7, 5, 4, -7});
  t.input<int32_t>("B", {5}, {3, -3, 8, -2, 3});
  t.output<int32_t>("C", {5}, {2, -2, 5, 0, 2});
  t.run();
  OpTester f("Mod");
  f.attr("fmod", int64_t{1});
  f.input<int32_t>("A", {5}, {-4, 7, 5, 4, -7});
  f.input<int32_t>("B", {5}, {3, -3, 8, -2, 3});
  f.output<int32_t>("C", {5}, {-1, 1, 5, 0, -1});
  f.run();
}

TEST(Div, IntegerByZeroIsAnError) {
  OpTester t("Div");
  t.input<int32_t>("A", {2}, {1, 2});
  t.input<int32_t>("B", {2}, {1, 0});
  t.output<int32_t>("C", {2}, {0, 0});
  EXPECT_THROW(t.run_outputs(), Error);
}

TEST(Pow, ScalarSquareAndMixedTypes) {
  OpTester t("Pow");
  t.input<float>("X", {3}, {-3, 0.5f, 4});
  t.input<float>("Y", {}, {2});
  t.output<float>("Z", {3}, {9, 0.25f, 16});
  t.run();
  OpTester m("Pow", 15);
  m.input<int32_t>("X", {3}, {2, 3, 9});
  m.input<float>("Y", {3}, {3, -1, 0.5f});
  m.output<int32_t>("Z", {3}, {8, 0, 3});
  m.run();
}

TEST(HardSwish, Values) {
  // x * clamp(x/6 + 1/2, 0, 1)
  OpTester t("HardSwish", 14);
  t.input<float>("X", {5}, {-4, -3, 0, 1.5f, 3});
  t.output<float>("Y", {5}, {0, 0, 0, 1.5f * 0.75f, 3});
  t.run();
  OpTester h("HardSigmoid");
  h.attr("alpha", 0.25f).attr("beta", 0.5f);
  h.input<float>("X", {4}, {-3, 0, 1, 4});
  h.output<float>("Y", {4}, {0, 0.5f, 0.75f, 1});
  h.run();
}

// The vectorized float32 exp/sigmoid/tanh against double-precision references, over a
// large tensor (threaded) covering underflow, overflow and the small-|x| tanh branch.
TEST(Activations, FastFloatMathIsAccurate) {
  const int64_t n = 200001;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -110.f + 200.f * static_cast<float>(i) / static_cast<float>(n - 1);
  x[0] = -std::numeric_limits<float>::infinity();
  x[1] = 1e-6f;
  x[2] = -3e-4f;
  struct Fn {
    const char* op;
    std::function<double(double)> ref;
  };
  const std::vector<Fn> fns = {
      {"Exp", [](double v) { return std::exp(v); }},
      {"Sigmoid", [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {"Tanh", [](double v) { return std::tanh(v); }},
  };
  each_thread_count([&] {
    for (const auto& f : fns) {
      SCOPED_TRACE(f.op);
      OpTester t(f.op);
      t.input<float>("X", {n}, x);
      t.output<float>("Y", {n}, std::vector<float>(n, 0.f));
      Tensor y = t.run_outputs().at("Y");
      const float* py = y.data<float>();
      int bad = 0;
      for (int64_t i = 0; i < n && bad < 5; ++i) {
        const double want = f.ref(static_cast<double>(x[i]));
        const double w32 = static_cast<double>(static_cast<float>(want));  // float-rounded reference
        if (std::isinf(w32)) {
          if (py[i] != static_cast<float>(w32)) ++bad, ADD_FAILURE() << "x=" << x[i] << " got " << py[i];
          continue;
        }
        // 3e-7 relative, or within the smallest normal for underflowing results.
        const double tol = 3e-7 * std::fabs(want) + 1.2e-38;
        if (!(std::fabs(py[i] - want) <= tol)) ++bad, ADD_FAILURE() << "x=" << x[i] << " got " << py[i] << " want " << want;
      }
    }
  });
  // NaN propagates.
  for (const char* op : {"Exp", "Sigmoid", "Tanh"}) {
    OpTester t(op);
    t.input<float>("X", {1}, {std::numeric_limits<float>::quiet_NaN()});
    t.output<float>("Y", {1}, {std::numeric_limits<float>::quiet_NaN()});
    t.run();
  }
}

TEST(Unary, IntegerAbsNegSign) {
  OpTester a("Abs");
  a.input<int8_t>("X", {3}, {-5, 0, 7});
  a.output<int8_t>("Y", {3}, {5, 0, 7});
  a.run();
  OpTester n("Neg");
  n.input<int64_t>("X", {2}, {-5, 9});
  n.output<int64_t>("Y", {2}, {5, -9});
  n.run();
  OpTester s("Sign");
  s.input<int32_t>("X", {3}, {-5, 0, 7});
  s.output<int32_t>("Y", {3}, {-1, 0, 1});
  s.run();
  OpTester bad("Sqrt");
  bad.input<int32_t>("X", {1}, {4});
  bad.output<int32_t>("Y", {1}, {2});
  EXPECT_THROW(bad.run_outputs(), Error);
}

// ---- float16 conformance cases -----------------------------------------------------------
// The generic harness cannot read float16 outputs yet; these compare them here, by value.

TEST(ElementwiseFloat16, ConformanceCases) {
  namespace fs = std::filesystem;
  const fs::path root = "/usr/share/libonnx-testdata/data/node";
  if (!fs::is_directory(root)) GTEST_SKIP() << "libonnx-testdata is not installed";
  auto as_f64 = [](const Tensor& t, int64_t i) -> double {
    if (t.dtype() == DType::F16) return ew::f16_to_f32(t.data<uint16_t>()[i]);
    return t.at_f64(i);
  };
  for (const char* name :
       {"test_cast_FLOAT_to_FLOAT16", "test_cast_DOUBLE_to_FLOAT16", "test_castlike_FLOAT_to_FLOAT16",
        "test_castlike_DOUBLE_to_FLOAT16", "test_castlike_FLOAT_to_FLOAT16_expanded",
        "test_castlike_DOUBLE_to_FLOAT16_expanded", "test_max_float16", "test_min_float16",
        "test_mod_mixed_sign_float16", "test_cast_FLOAT16_to_FLOAT", "test_cast_FLOAT16_to_DOUBLE"}) {
    SCOPED_TRACE(name);
    const fs::path dir = root / name;
    if (!fs::exists(dir / "model.onnx")) continue;
    OnnxGraph g = OnnxGraph::load((dir / "model.onnx").string());
    prepare_model(g);
    Session s(g);
    TensorMap feeds;
    for (size_t i = 0; i < s.input_names().size(); ++i)
      feeds[s.input_names()[i]] = tensor_from_proto(
          read_tensor_proto_file((dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb")).string()));
    TensorMap got = s.run(feeds);
    Tensor want = tensor_from_proto(read_tensor_proto_file((dir / "test_data_set_0" / "output_0.pb").string()));
    const Tensor& y = got.at(s.output_names()[0]);
    ASSERT_EQ(y.dtype(), want.dtype());
    ASSERT_EQ(y.shape(), want.shape());
    for (int64_t i = 0; i < want.numel(); ++i) {
      const double a = as_f64(y, i), b = as_f64(want, i);
      // Exact: every one of these is a correctly rounded conversion or an exact operation.
      if (!(a == b || (std::isnan(a) && std::isnan(b)))) {
        ADD_FAILURE() << "element " << i << ": got " << a << ", expected " << b;
        break;
      }
    }
  }
}

}  // namespace
}  // namespace dpl::test
