// prepare() and the simplifier on the real models in ../shared/models: every model must
// prepare, and the simplified model (symbolic dims fixed to the README's sizes) must give
// the outputs of the unsimplified one on a deterministic random input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "graph/model_builder.h"
#include "shared_models.h"
#include "optimizer/simplifier.h"
#include "runtime/session.h"
#include "optimizer/prepare.h"

namespace dpl::test {
namespace {

namespace fs = std::filesystem;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Cosine >= 0.999999 for every output; prints cosine and max abs diff.
void compare(const TensorMap& want, const TensorMap& got, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    const Tensor& a = want.at(name);
    const Tensor& b = got.at(name);
    ASSERT_EQ(a.shape(), b.shape()) << name;
    ASSERT_EQ(a.dtype(), b.dtype()) << name;
    double dot = 0, na = 0, nb = 0, maxdiff = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      double x = a.at_f64(i), y = b.at_f64(i);
      dot += x * y;
      na += x * x;
      nb += y * y;
      maxdiff = std::max(maxdiff, std::fabs(x - y));
    }
    double cosine = (na == 0 && nb == 0) ? 1.0 : dot / std::sqrt(na * nb);
    std::cout << "[simplify]   output " << name << " " << shape_str(a.shape()) << ": cosine " << cosine
              << ", max abs diff " << maxdiff << "\n";
    EXPECT_GE(cosine, 0.999999) << name;
    EXPECT_FALSE(std::isnan(maxdiff)) << name;
  }
}

class RealModel : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam().empty()) GTEST_SKIP() << "no models: " << kSharedModels << " is absent";
    path_ = (kSharedModels / GetParam()).string();
  }
  std::string path_;
};

TEST_P(RealModel, Prepares) {
  auto t0 = std::chrono::steady_clock::now();
  OnnxGraph g = OnnxGraph::load(path_);
  const int nodes_in = g.node_count();
  const int64_t opset_in = g.opset();
  prepare_model(g, 13, false);
  const int nodes_converted = g.node_count();
  const double t_convert = seconds_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  SimplifyStats st = simplify(g);
  std::cout << "[prepare] " << GetParam() << ": opset " << opset_in << ", " << nodes_in << " nodes -> "
            << nodes_converted << " after conversion (" << t_convert << " s) -> " << g.node_count()
            << " simplified (" << seconds_since(t1) << " s): " << st.summary() << "\n";
  EXPECT_EQ(g.opset(), 13);
  std::set<std::string> names, ready;
  for (const auto& in : g.graph().input()) ready.insert(in.name());
  for (const auto& t : g.graph().initializer()) ready.insert(t.name());
  for (const auto& n : g.graph().node()) {
    EXPECT_FALSE(n.name().empty());
    EXPECT_TRUE(names.insert(n.name()).second) << "duplicate name " << n.name();
    EXPECT_NE(n.op_type(), "Constant");
    EXPECT_NE(n.op_type(), "Upsample");
    EXPECT_NE(n.op_type(), "Identity");
    for (const auto& in : n.input()) EXPECT_TRUE(in.empty() || ready.count(in)) << n.name() << " reads " << in;
    for (const auto& o : n.output()) ready.insert(o);
  }
  for (const auto& o : g.network_outputs()) EXPECT_TRUE(ready.count(o)) << o;
  // Preparing again changes nothing.
  OnnxGraph again = g.copy();
  prepare_model(again);
  EXPECT_EQ(again.serialize(), g.serialize());
  // The weights the light models compute in the graph are plain initializers now.
  for (const auto& n : g.graph().node()) {
    if (n.op_type() != "Conv" && n.op_type() != "Gemm" && n.op_type() != "BatchNormalization") continue;
    for (int k = 1; k < n.input_size(); ++k) {
      EXPECT_TRUE(g.is_initializer(n.input(k))) << n.name() << " input " << k;
    }
  }
}

TEST_P(RealModel, SimplifiedGivesSameOutputs) {
  const auto fixed = ppocr_input_shapes(GetParam());  // the sizes of models/README.md
  OnnxGraph plain = OnnxGraph::load(path_);
  prepare_model(plain, 13, false);
  std::string unsupported;
  const std::unique_ptr<Session> sp = session_unless_unsupported(plain, unsupported);
  if (!sp) GTEST_SKIP() << GetParam() << ": " << unsupported;
  SimplifyOptions o;
  o.input_shapes = fixed;
  OnnxGraph simple = OnnxGraph::load(path_);
  auto t0 = std::chrono::steady_clock::now();
  prepare_model(simple, o);
  const double t_prep = seconds_since(t0);
  Session ss(simple);

  TensorMap feeds;
  uint64_t seed = 1;
  for (const auto& name : sp->input_names()) {
    Shape s = fixed.count(name) ? fixed.at(name) : sp->input_shape(name);
    for (auto& d : s)
      if (d < 0) d = 1;
    feeds[name] = random_tensor(s, seed++);
  }
  auto t1 = std::chrono::steady_clock::now();
  TensorMap want = sp->run(feeds);
  const double t_plain = seconds_since(t1);
  t1 = std::chrono::steady_clock::now();
  TensorMap got = ss.run(feeds);
  const double t_simple = seconds_since(t1);
  std::cout << "[simplify] " << GetParam() << ": " << plain.node_count() << " -> " << simple.node_count()
            << " nodes (prepare " << t_prep << " s); run " << t_plain << " s unsimplified, " << t_simple
            << " s simplified\n";
  ASSERT_EQ(ss.output_names(), sp->output_names());
  compare(want, got, sp->output_names());

  // The batch was not fixed: the simplified model must run at another batch size too.
  bool batch_fixed = false;
  for (const auto& [name, s] : fixed) batch_fixed = batch_fixed || (!s.empty() && s[0] >= 0);
  if (batch_fixed) return;
  for (auto& [name, t] : feeds) {
    Shape s = t.shape();
    if (s.empty()) continue;
    s[0] = 2;
    t = random_tensor(s, seed++);
  }
  TensorMap want2;
  try {
    want2 = sp->run(feeds);
  } catch (const Error& e) {
    std::cout << "[simplify]   batch 2: the unsimplified model does not run: " << e.what() << "\n";
    return;
  }
  std::cout << "[simplify]   batch 2:\n";
  compare(want2, ss.run(feeds), sp->output_names());
}

std::vector<std::string> params() {
  auto r = list_shared_models();
  if (r.empty()) r.push_back("");  // one skipped case that says why
  return r;
}

INSTANTIATE_TEST_SUITE_P(Models, RealModel, ::testing::ValuesIn(params()), model_param_name);

}  // namespace
}  // namespace dpl::test
