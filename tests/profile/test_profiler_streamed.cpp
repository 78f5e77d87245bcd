// Streamed profiling of a model whose weights stay in their mapped file
// (docs/external_data.md): weight Q/DQ pairs computed on every run and no packed copies in
// the kernels give the same per-layer and output figures as the usual folded, packed sessions.
// Also: a session without packed weights runs as one with them, and mapped pages handed back
// to the system come back with their values.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "calib/sample_source.h"
#include "calib/tensor_cali.h"
#include "graph/model_builder.h"
#include "graph/onnx_graph.h"
#include "io/mapped_file.h"
#include "optimizer/prepare.h"
#include "profile/profiler.h"
#include "quant/platform.h"
#include "quant/qdq_builder.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kC = 64, kHw = 6;

Tensor random_tensor(const Shape& s, std::mt19937& gen, float scale) {
  std::normal_distribution<float> d(0.f, scale);
  Tensor t(DType::F32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(gen);
  return t;
}

// x [1,64,6,6] -> Conv 3x3 -> Relu -> Conv 3x3 -> MatMul [6,6] -> y: every weight is over
// the 64 KiB kept in memory at load except the MatMul's, saved with external data and loaded
// back, so that the convolutions' weights are mapped.
OnnxGraph mapped_model(const fs::path& dir) {
  std::mt19937 gen(11);
  ModelBuilder b;
  b.input("x", {1, kC, kHw, kHw});
  b.init("w1", random_tensor({kC, kC, 3, 3}, gen, 0.05f)).init("w2", random_tensor({kC, kC, 3, 3}, gen, 0.05f));
  b.init("m", random_tensor({kHw, kHw}, gen, 0.4f));
  b.node("Conv", {"x", "w1"}, {"c1"}, "conv1").attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"c1"}, {"r1"}, "relu1");
  b.node("Conv", {"r1", "w2"}, {"c2"}, "conv2").attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("MatMul", {"c2", "m"}, {"y"}, "matmul").output("y");
  OnnxGraph g = b.graph();
  prepare_model(g);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "model.onnx").string();
  EXPECT_TRUE(g.save(path, true));
  return OnnxGraph::load(path);
}

std::vector<TensorMap> samples(int n) {
  std::mt19937 gen(5);
  std::vector<TensorMap> s;
  for (int i = 0; i < n; ++i) s.push_back({{"x", random_tensor({1, kC, kHw, kHw}, gen, 1.f)}});
  return s;
}

const fs::path kDir = fs::path(DPL_BINARY_DIR) / "profile_tests" / "streamed";

TEST(StreamedProfile, GivesTheFiguresOfFoldedPackedSessions) {
  OnnxGraph g = mapped_model(kDir);
  ASSERT_EQ(g.mapped_bytes(), static_cast<size_t>(2 * kC * kC * 9 * 4));
  MemorySampleSource data(samples(3));
  CaliOptions co;
  co.algo = CaliAlgo::MinMax;
  const Platform trt = platform_by_name("trt");
  const QdqModel qdq = build_qdq(g, trt, calibrate_activations(g, data, co), weight_ranges(g), {});
  for (bool per_layer : {true, false}) {
    ProfileOptions folded, streamed;
    folded.per_layer = streamed.per_layer = per_layer;
    streamed.stream_weights_above = 1;
    const ProfileResult a = profile_qdq(g, qdq, data, folded);
    const ProfileResult b = profile_qdq(g, qdq, data, streamed);
    ASSERT_EQ(a.layers.size(), b.layers.size());
    if (per_layer) {
      EXPECT_EQ(a.layers.size(), 3u);  // conv1, conv2, matmul
    }
    for (size_t i = 0; i < a.layers.size(); ++i) {
      EXPECT_EQ(a.layers[i].tensor, b.layers[i].tensor);
      EXPECT_NEAR(a.layers[i].stats.mean_cosine(), b.layers[i].stats.mean_cosine(), 1e-6) << a.layers[i].tensor;
      EXPECT_NEAR(a.layers[i].stats.sqnr_db(), b.layers[i].stats.sqnr_db(), 1e-3) << a.layers[i].tensor;
      EXPECT_LT(a.layers[i].stats.mean_cosine(), 1.0) << "quantization changed nothing in " << a.layers[i].tensor;
    }
    ASSERT_EQ(a.outputs.size(), 1u);
    ASSERT_EQ(b.outputs.size(), 1u);
    EXPECT_NEAR(a.outputs[0].avg_cos(), b.outputs[0].avg_cos(), 1e-6);
  }
}

TEST(StreamedProfile, SessionsWithoutPackedWeightsRunAsPackedOnes) {
  OnnxGraph g = mapped_model(kDir / "session");
  const TensorMap feeds = samples(1)[0];
  SessionOptions packed, streamed;
  streamed.pack_weights = false;
  for (bool fuse : {false, true}) {
    packed.fuse = streamed.fuse = fuse;
    const Tensor a = Session(g, packed).run(feeds).at("y");
    const Tensor b = Session(g, streamed).run(feeds).at("y");
    ASSERT_EQ(a.shape(), b.shape());
    for (int64_t i = 0; i < a.numel(); ++i)
      ASSERT_NEAR(a.data<float>()[i], b.data<float>()[i], 1e-5f * (1.f + std::abs(a.data<float>()[i]))) << i;
  }
}

TEST(StreamedProfile, ReleasedMappedPagesComeBackWithTheirValues) {
  OnnxGraph g = mapped_model(kDir / "release");
  const Tensor w = g.get_initializer("w1");
  ASSERT_TRUE(w.is_view());
  const Tensor copy = w.clone();
  release_mapped_pages(w.data<float>(), w.bytes());
  for (int64_t i = 0; i < w.numel(); ++i) ASSERT_EQ(w.data<float>()[i], copy.data<float>()[i]) << i;
  // Memory outside every mapping is left alone.
  Tensor heap = copy.clone();
  release_mapped_pages(heap.data<float>(), heap.bytes());
  for (int64_t i = 0; i < heap.numel(); ++i) ASSERT_EQ(heap.data<float>()[i], copy.data<float>()[i]) << i;
}

}  // namespace
}  // namespace dpl::test
