// The frontier of layer-wise reconstruction (transform/recon_frontier.h): the values it
// carries from cut to cut equal a run of the whole model from its inputs, value for value,
// through a residual branch, an integer value (a Shape's), a model input read late, a weight changed after the cut, a
// constant-derived weight, a weight changed before the cut (noted) and a cut moved back.
#include <gtest/gtest.h>

#include <filesystem>

#include "optimizer/prepare.h"
#include "transform/recon_frontier.h"
#include "transform/transform_test_util.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

// x -> conv1 -> relu (ar) -> conv2 (b); ar + b (c) -> conv3 (d) -> Reshape to Shape(ar) (dr);
// dr + y (e). conv3's weight is computed by a Mul of two constants, the first node of the graph.
OnnxGraph frontier_model() {
  ModelBuilder b(13);
  b.input("x", {1, 2, 6, 6}).input("y", {1, 4, 6, 6});
  b.init("conv3_raw", random_tensor({4, 4, 3, 3}, 31, -1.f, 1.f))
      .init("two", Tensor::from_vector<float>({}, {2.f}))
      .node("Mul", {"conv3_raw", "two"}, {"conv3_w"}, "scale_w3");
  add_conv(b, "conv1", "x", "a", 2, 4, 3, 1, 1, 11);
  b.node("Relu", {"a"}, {"ar"}, "relu").node("Shape", {"ar"}, {"ar_shape"}, "shape_of_ar");
  add_conv(b, "conv2", "ar", "b", 4, 4, 1, 1, 0, 21);
  b.node("Add", {"ar", "b"}, {"c"}, "add");
  b.node("Conv", {"c", "conv3_w"}, {"d"}, "conv3")
      .attr("kernel_shape", std::vector<int64_t>{3, 3})
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  // An integer value crossing every cut after it: the Shape of ar, read by the last Reshape
  // (as a dynamic reshape of a transformer reads one).
  b.node("Reshape", {"d", "ar_shape"}, {"dr"}, "reshape_d");
  b.node("Add", {"dr", "y"}, {"e"}, "add2").output("e");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

std::vector<TensorMap> two_input_samples(int count) {
  std::vector<TensorMap> r;
  for (int i = 0; i < count; ++i)
    r.push_back({{"x", random_tensor({1, 2, 6, 6}, 500 + i, -1.f, 1.f)},
                 {"y", random_tensor({1, 4, 6, 6}, 700 + i, -1.f, 1.f)}});
  return r;
}

// Every sample's row of `tensor` in the frontier equals `tensor` computed from the model inputs.
void expect_cached(const transform::Frontier& f, const OnnxGraph& g, const std::vector<TensorMap>& samples,
                   const std::string& tensor) {
  SCOPED_TRACE(tensor);
  SessionOptions so;
  so.keep = {tensor};
  Session s(g, so);
  const auto& cache = f.cache(tensor);
  ASSERT_EQ(cache.count(), static_cast<int64_t>(samples.size()));
  for (size_t i = 0; i < samples.size(); ++i) {
    const Tensor want = s.run(samples[i], {tensor}).at(tensor);
    const Tensor got = cache.gather({static_cast<int64_t>(i)});
    ASSERT_EQ(got.shape(), want.shape());
    EXPECT_EQ(got.to_f32_vector(), want.to_f32_vector()) << "sample " << i;
  }
}

struct FrontierSetup {
  OnnxGraph fp = frontier_model();
  std::vector<TensorMap> samples = two_input_samples(5);
  MemorySampleSource data{samples};
  transform::CacheBudget budget{int64_t{1} << 24, fs::temp_directory_path().string()};
  int at(const std::string& node) const { return fp.node_index(node); }
};

TEST(ReconFrontier, EachCutHoldsWhatAFullRunComputesInOneSegmentPerCut) {
  FrontierSetup s;
  transform::Frontier f("test", s.data, 2, s.budget, {});
  f.advance(s.fp, s.at("conv2"), {"ar"}, "to conv2");
  expect_cached(f, s.fp, s.samples, "ar");
  f.advance(s.fp, s.at("conv3"), {"c"}, "to conv3");
  expect_cached(f, s.fp, s.samples, "c");
  // d with the model input y, which the segment after it reads from the samples.
  f.advance(s.fp, s.at("add2"), {"d"}, "to add2");
  expect_cached(f, s.fp, s.samples, "d");
  f.advance(s.fp, s.fp.node_count(), {"e"}, "to the end");
  expect_cached(f, s.fp, s.samples, "e");
  EXPECT_EQ(f.segments_run(), 4);  // one pass each, never from the model inputs again
  // Everything held went back to the budget but what the last cut holds.
  EXPECT_EQ(s.budget.bytes_left, (int64_t{1} << 24) - 5 * 4 * 6 * 6 * 4);
}

TEST(ReconFrontier, WeightsChangedAfterTheCutAreUsedIncludingConstantDerivedOnes) {
  FrontierSetup s;
  transform::Frontier f("test", s.data, 2, s.budget, {});
  f.advance(s.fp, s.at("conv2"), {"ar"}, "to conv2");
  // conv2's weight (read after the cut) and conv3's raw weight (read by a constant node
  // before the cut, whose product conv3 reads after it) change, as a reconstruction does.
  OnnxGraph g = s.fp.copy();
  g.set_initializer("conv2_w", random_tensor({4, 4, 1, 1}, 77, -1.f, 1.f));
  g.set_initializer("conv3_raw", random_tensor({4, 4, 3, 3}, 78, -1.f, 1.f));
  f.note_changed(g, "conv2_w");
  f.note_changed(g, "conv3_raw");
  f.advance(g, s.at("add2"), {"d"}, "to add2");
  expect_cached(f, g, s.samples, "d");
  EXPECT_EQ(f.segments_run(), 2);  // no start over: nothing cached depended on them
}

TEST(ReconFrontier, AWeightChangedBeforeTheCutStartsOverAndSoDoesACutMovedBack) {
  FrontierSetup s;
  transform::Frontier f("test", s.data, 2, s.budget, {});
  f.advance(s.fp, s.at("conv3"), {"c"}, "to conv3");
  OnnxGraph g = s.fp.copy();
  g.set_initializer("conv1_w", random_tensor({4, 2, 3, 3}, 79, -1.f, 1.f));
  f.note_changed(g, "conv1_w");  // c was computed with the old conv1
  f.advance(g, s.at("add2"), {"d"}, "to add2");
  expect_cached(f, g, s.samples, "d");
  // Back to before conv2: the frontier starts from the model inputs again.
  f.advance(g, s.at("conv2"), {"ar"}, "back to conv2");
  EXPECT_EQ(f.cut(), s.at("conv2"));
  expect_cached(f, g, s.samples, "ar");
  // The same graph with another node: a new signature, a start over.
  OnnxGraph h = g.copy();
  h.mutable_node(h.node_index("relu")).set_op_type("Sigmoid");
  f.advance(h, s.at("conv3"), {"c"}, "to conv3");
  expect_cached(f, h, s.samples, "c");
  EXPECT_EQ(f.segments_run(), 4);
}

}  // namespace
}  // namespace dpl::test
