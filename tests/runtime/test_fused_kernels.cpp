// The rule "no fused node on a slow implementation" (docs/perf-notes.md, "Fused kernels on
// fast implementations only"), pinned on the real models: every model of ../shared/models
// runs once in a fused session, and every node that reports a library implementation
// (Session::kernel_info) must
//   - never be one of oneDNN's reference implementations ("ref:...");
//   - with post-ops fused into the library call: get the implementation oneDNN picks for the
//     same call without them (a post-op that pushes oneDNN onto another implementation, as
//     SiLU did, fails here);
//   - with a binary post-op (a residual Add) in the library call: be a direct JIT kernel,
//     not the GEMM-based convolution, which applies binary post-ops element by element;
//   - never have two eltwise post-ops of one algorithm in the library call (oneDNN 2.6
//     applies the second with the first one's parameters).
// A new oneDNN version or a new fusion that brings one of those back fails this test.
// Also: the per-node time file (SessionOptions::node_times_file) lists every plan node.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <unistd.h>

#include "graph/model_builder.h"
#include "optimizer/prepare.h"
#include "runtime/session.h"
#include "shared_models.h"

namespace dpl::test {
namespace {

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// oneDNN implementations that apply post-ops, binary ones included, inside their JIT kernel.
bool known_fast(const std::string& impl) {
  return has(impl, "brg") || has(impl, "jit:avx512") || has(impl, "jit:avx2") || has(impl, "jit_1x1:") ||
         has(impl, "jit_dw:") || has(impl, "jit_int8") || has(impl, "direct ");
}

// The oneDNN eltwise algorithms named in post-op names ("eltwise_linear+eltwise_clip": two;
// "eltwise_relu(leaky)": eltwise_relu), in order.
std::vector<std::string> eltwise_algorithms(const std::vector<std::string>& post_ops) {
  std::vector<std::string> r;
  for (const auto& p : post_ops)
    for (size_t at = p.find("eltwise_"); at != std::string::npos; at = p.find("eltwise_", at + 1))
      r.push_back(p.substr(at, p.find_first_of("+()", at) - at));
  return r;
}

class FusedKernels : public ::testing::TestWithParam<std::string> {};

TEST_P(FusedKernels, NoSlowImplementationOnSharedModels) {
  if (GetParam().empty()) GTEST_SKIP() << "no models: " << kSharedModels << " is absent";
  OnnxGraph g = OnnxGraph::load((kSharedModels / GetParam()).string());
  prepare_model(g);
  SessionOptions so;
  so.fuse = true;
  std::unique_ptr<Session> s;
  try {
    s = std::make_unique<Session>(g, so);
  } catch (const Error& e) {
    if (!has(e.what(), "does not support")) throw;
    GTEST_SKIP() << GetParam() << ": " << e.what();
  }
  const auto fixed = ppocr_input_shapes(GetParam(), 320);
  TensorMap feeds;
  uint64_t seed = 1;
  for (const auto& name : s->input_names()) {
    if (s->input_type(name) != DType::F32 && s->input_type(name) != DType::Undefined)
      GTEST_SKIP() << GetParam() << ": input " << name << " is not float";
    Shape shape = fixed.count(name) ? fixed.at(name) : s->input_shape(name);
    for (auto& d : shape)
      if (d < 0) d = 1;
    feeds[name] = random_tensor(shape, seed++);
  }
  s->run(feeds);
  std::map<std::string, int> impls;  // "impl [post-ops]" -> nodes
  int fused = 0;
  for (int i = 0; i < s->node_count(); ++i) {
    const KernelInfo k = s->kernel_info(i);
    if (k.impl.empty()) continue;
    const NodeDesc& n = s->node(i);
    SCOPED_TRACE(n.name + " (" + n.op_type + ", " + std::to_string(n.absorbed.size()) + " absorbed): " + k.impl);
    std::string key = k.impl;
    bool binary = false;
    for (const auto& p : k.library_post_ops) key += " +" + p, binary |= has(p, "binary");
    for (const auto& p : k.separate_post_ops) key += " then " + p;
    ++impls[key];
    fused += !n.absorbed.empty();
    EXPECT_FALSE(has(k.impl, "ref:") || k.impl.rfind("ref", 0) == 0) << "a reference implementation";
    if (!k.library_post_ops.empty()) {
      EXPECT_EQ(k.impl, k.impl_alone) << "the post-ops changed the implementation";
      std::vector<std::string> algs = eltwise_algorithms(k.library_post_ops);
      std::sort(algs.begin(), algs.end());
      EXPECT_EQ(std::adjacent_find(algs.begin(), algs.end()), algs.end()) << "one eltwise algorithm twice in the call";
    }
    if (binary) {
      EXPECT_TRUE(known_fast(k.impl)) << "a binary post-op on an implementation not known to be fast";
    }
  }
  std::cout << "[fused-kernels] " << GetParam() << ": " << s->node_count() << " plan nodes, " << fused
            << " with absorbed nodes\n";
  for (const auto& [key, count] : impls) std::cout << "[fused-kernels]   " << count << " x " << key << "\n";
}

std::vector<std::string> params() {
  auto r = list_shared_models();
  if (r.empty()) r.push_back("");  // one skipped case that says why
  return r;
}

INSTANTIATE_TEST_SUITE_P(Models, FusedKernels, ::testing::ValuesIn(params()), model_param_name);

// The per-node time file: one line per plan node after the header, with its call count, the
// nodes it absorbed and the convolution's implementation.
TEST(SessionNodeTimes, FileListsEveryPlanNode) {
  ModelBuilder b;
  b.input("x", {1, 4, 8, 8})
      .init("w", random_tensor({4, 4, 3, 3}, 1, -0.2f, 0.2f))
      .node("Conv", {"x", "w"}, {"c"}, "conv")
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
      .node("Relu", {"c"}, {"r"}, "relu")
      .node("Softmax", {"r"}, {"y"}, "softmax")
      .output("y");
  const std::string path =
      (std::filesystem::temp_directory_path() / ("dpl_node_times_" + std::to_string(::getpid()) + ".tsv")).string();
  {
    SessionOptions so;
    so.fuse = true;
    so.node_times_file = path;
    Session s(b.graph(), so);
    ASSERT_EQ(s.node_count(), 2);  // conv+relu, softmax
    TensorMap feeds{{"x", random_tensor({1, 4, 8, 8}, 2)}};
    s.run(feeds);
    s.run(feeds);
  }
  std::ifstream f(path);
  ASSERT_TRUE(f) << path;
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(f, line);) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cells.push_back(c);
    rows.push_back(cells);
  }
  std::filesystem::remove(path);
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& r : rows) ASSERT_EQ(r.size(), 9u);
  EXPECT_EQ(rows[0][1], "node");
  EXPECT_EQ(rows[1][1], "conv");
  EXPECT_EQ(rows[1][3], "relu:Relu");
  EXPECT_EQ(rows[1][4], "1");  // calls after the first
  EXPECT_NE(rows[1][8], "-");  // oneDNN's implementation name
  EXPECT_NE(rows[1][8].find("eltwise_relu"), std::string::npos) << rows[1][8];
  EXPECT_EQ(rows[2][2], "Softmax");
  EXPECT_EQ(rows[2][3], "-");
  EXPECT_EQ(rows[2][4], "1");
  EXPECT_EQ(rows[2][8], "-");
  EXPECT_GT(std::stod(rows[1][7]), 0.0);  // the first call builds the primitive
}

}  // namespace
}  // namespace dpl::test
