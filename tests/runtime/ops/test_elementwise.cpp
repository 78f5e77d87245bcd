// The helpers of src/runtime/ops/elementwise.h that several kernels share: the vectorized
// float32 exp/sigmoid/tanh against double-precision libm, and the float16 conversions on the
// float16 conformance cases whose outputs the generic harness cannot compare yet. The kernels
// themselves are tested in test_<kernel file>.cpp beside this file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>

#include "graph/tensor_proto.h"
#include "optimizer/prepare.h"
#include "runtime/op_tester.h"
#include "runtime/ops/elementwise.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

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
  with_threads([&] {
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
