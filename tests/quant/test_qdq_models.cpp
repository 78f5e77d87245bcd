// The QDQ builder on the real models in ../shared/models: for trt, snpe, rv and imx, with
// minmax ranges over two deterministic random inputs, the QDQ model must pass
// onnx::checker and run in our runtime. Prints the pairs each gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>

#include "graph/model_builder.h"
#include "shared_models.h"
#include "optimizer/simplifier.h"
#include "quant/qdq_builder.h"
#include "quant/qdq_test_util.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

// Sizes for the symbolic input dimensions (smaller than the README's for the detector).
std::map<std::string, Shape> fixed_shapes(const std::string& model) {
  if (model.find("ch_PP-OCRv4_det") != std::string::npos) return {{"x", {1, 3, 320, 320}}};
  if (model.find("ch_PP-OCRv4_rec") != std::string::npos) return {{"x", {1, 3, 48, 320}}};
  if (model.find("ch_ppocr_mobile_v2.0_cls") != std::string::npos) return {{"x", {1, 3, 48, 192}}};
  return {};
}

double cosine(const Tensor& a, const Tensor& b) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.at_f64(i), y = b.at_f64(i);
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return (na == 0 && nb == 0) ? 1.0 : dot / std::sqrt(na * nb);
}

class QdqRealModel : public ::testing::TestWithParam<std::string> {};

TEST_P(QdqRealModel, BuildsChecksAndRuns) {
  if (GetParam().empty()) GTEST_SKIP() << "no models: " << kSharedModels << " is absent";
  const auto fixed = fixed_shapes(GetParam());
  OnnxGraph g = OnnxGraph::load((kSharedModels / GetParam()).string());
  SimplifyOptions so;
  so.input_shapes = fixed;
  prepare_model(g, so);
  std::unique_ptr<Session> fp;
  try {
    fp = std::make_unique<Session>(g);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find("does not support") != std::string::npos) GTEST_SKIP() << GetParam() << ": " << msg;
    throw;
  }
  std::vector<TensorMap> feeds(2);
  uint64_t seed = 1;
  for (auto& f : feeds)
    for (const auto& name : fp->input_names()) {
      Shape s = fixed.count(name) ? fixed.at(name) : fp->input_shape(name);
      for (auto& d : s)
        if (d < 0) d = 1;
      f[name] = random_tensor(s, seed++);
    }
  ActRanges act = minmax_ranges(g, feeds);
  WeightRanges wr = all_weight_ranges(g);
  TensorMap want = fp->run(feeds[0]);

  for (const char* platform : {"trt", "snpe", "rv", "imx"}) {
    SCOPED_TRACE(platform);
    auto t0 = std::chrono::steady_clock::now();
    QdqModel m = build_qdq(g, platform_by_name(platform), act, wr, {});
    const double t_build = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string err = check_onnx(m.graph, false);
    EXPECT_TRUE(err.empty()) << err;
    int weights = 0, acts = 0;
    for (const auto& p : m.pairs) (p.weight ? weights : acts)++;
    EXPECT_EQ(count_op(m.graph, "QuantizeLinear"), static_cast<int>(m.pairs.size()));
    EXPECT_EQ(count_op(m.graph, "DequantizeLinear"), static_cast<int>(m.pairs.size()));
    EXPECT_GT(m.pairs.size(), 0u);
    Session qs(m.graph);
    TensorMap got = qs.run(feeds[0]);
    std::string cos;
    for (const auto& o : g.network_outputs()) {
      const std::string& qo = m.outputs.at(o);
      ASSERT_EQ(got.count(qo), 1u) << qo;
      const Tensor& t = got.at(qo);
      ASSERT_EQ(t.shape(), want.at(o).shape()) << qo;
      if (t.dtype() == DType::F32) {
        for (int64_t i = 0; i < t.numel(); ++i) {
          ASSERT_TRUE(std::isfinite(t.data<float>()[i])) << qo << "[" << i << "]";
        }
        cos += fmt::format(" {:.4f}", cosine(t, want.at(o)));
      }
    }
    std::cout << "[qdq] " << GetParam() << " " << platform << ": " << m.pairs.size() << " Q/DQ pairs (" << acts
              << " activation, " << weights << " weight) on " << m.quant_nodes.size() << " selected of "
              << g.node_count() << " nodes; built in " << t_build << " s; output cosine vs FP32 on a random input:"
              << cos << "\n";
  }
}

std::vector<std::string> params() {
  auto r = list_shared_models();
  if (r.empty()) r.push_back("");
  return r;
}

INSTANTIATE_TEST_SUITE_P(Models, QdqRealModel, ::testing::ValuesIn(params()), model_param_name);

}  // namespace
}  // namespace dpl::test
