// Sparse quantization (transform/sparse_quant.h) on a small model at 8-bit and 4-bit weights:
// the written weights are exactly 0 where pruned and exactly on the quantization grid
// elsewhere, the pruned share per layer is at least the rate (unstructured) or exactly 2 of
// every 4 input channels (nv24, with layers whose channel count is not a multiple of 4 left
// dense), and training lowers each layer's reconstruction error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "calib/tensor_cali.h"
#include "optimizer/prepare.h"
#include "quant/precision.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "transform/sparse_quant.h"
#include "transform/transform_test_util.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

OnnxGraph sparse_model() {
  ModelBuilder b(13);
  b.input("x", {1, 4, 6, 6});
  add_conv(b, "conv1", "x", "c1", 4, 8, 3, 1, 1, 1);
  b.node("Relu", {"c1"}, {"r1"}, "relu1");
  add_conv(b, "dw", "r1", "d", 8, 8, 3, 8, 1, 2);  // depthwise: 1 input channel per group
  add_conv(b, "conv2", "d", "c2", 8, 8, 1, 1, 0, 3);
  b.node("GlobalAveragePool", {"c2"}, {"gap"}, "gap").node("Flatten", {"gap"}, {"f"}, "flatten");
  b.init("fc_w", random_tensor({8, 5}, 4, -1.f, 1.f)).node("Gemm", {"f", "fc_w"}, {"y"}, "fc");
  b.output("y");
  OnnxGraph g = b.graph();
  prepare_model(g, 13, false);
  return g;
}

struct SparseRun {
  OnnxGraph g;
  transform::SparseResult r;
  QdqModel q;
};

SparseRun run_sparse(train::SparsePattern pattern, int w_bits) {
  const Platform& p = platform_by_name("magicmind");
  OnnxGraph fp = sparse_model();
  const auto samples = random_samples("x", {1, 4, 6, 6}, 32, 5, -1.f, 2.f);
  const ActRanges act = minmax_ranges(fp, samples);
  const WeightRanges weight = weight_ranges(fp);
  PrecisionOptions po;
  po.w_bits = w_bits;
  QdqOptions qdq;
  qdq.precision = std::make_shared<const PrecisionPlan>(p, po);
  transform::SparseOptions o;
  o.iters = 300;
  o.batch = 8;
  o.pattern = pattern;
  o.rate = 0.5;
  o.cache_dir = fs::temp_directory_path().string();
  MemorySampleSource data(samples);
  SparseRun r{fp.copy(), {}, {}};
  r.r = transform::sparse_quant(r.g, fp, data, p, act, weight, qdq, o, {});
  r.q = build_qdq(r.g, p, act, weight, qdq);
  return r;
}

TEST(SparseQuant, UnstructuredWeightsAreZeroOrOnTheGrid) {
  for (int bits : {8, 4}) {
    SCOPED_TRACE(bits);
    const SparseRun run = run_sparse(train::SparsePattern::Unstructured, bits);
    ASSERT_EQ(run.r.layers.size(), 4u);
    EXPECT_EQ(run.r.trained(), 4);
    int lower = 0;
    for (const auto& l : run.r.layers) {
      SCOPED_TRACE(l.name);
      EXPECT_TRUE(l.pruned);
      EXPECT_GE(l.zeros, l.total / 2);  // at least the rate; rounding to 0 adds more
      // Never worse than pruning the original weights (kept when training ends worse).
      EXPECT_LE(l.mse_end, l.mse_start);
      lower += l.mse_end < l.mse_start;
      expect_on_grid(run.g, run.q, l.weight);
    }
    EXPECT_GE(lower, 3);
    EXPECT_GE(run.r.sparsity(), 0.5);
  }
}

TEST(SparseQuant, Nv24PrunesTwoOfFourAndLeavesDepthwiseDense) {
  const SparseRun run = run_sparse(train::SparsePattern::NV24, 8);
  ASSERT_EQ(run.r.layers.size(), 4u);
  for (const auto& l : run.r.layers) {
    SCOPED_TRACE(l.name);
    expect_on_grid(run.g, run.q, l.weight);
    if (l.name == "dw") {
      EXPECT_FALSE(l.pruned);
      EXPECT_NE(l.note.find("multiple of 4"), std::string::npos);
      continue;
    }
    EXPECT_TRUE(l.pruned);
    const Tensor w = run.g.get_initializer(l.weight);
    const int axis = l.name == "fc" ? 0 : 1;
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < axis; ++a) outer *= w.dim(a);
    for (int a = axis + 1; a < w.rank(); ++a) inner *= w.dim(a);
    const int64_t c = w.dim(axis);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c0 = 0; c0 < c; c0 += 4)
        for (int64_t j = 0; j < inner; ++j) {
          int zeros = 0;
          for (int q = 0; q < 4; ++q) zeros += w.data<float>()[(o * c + c0 + q) * inner + j] == 0.f;
          EXPECT_GE(zeros, 2);
        }
  }
}

}  // namespace
}  // namespace dpl::test
