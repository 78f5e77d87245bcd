// The thread count is the running session's, not the process's: two sessions with different
// counts, interleaved on one thread or running at once on two, each run with their own count
// and give the same outputs as when they run alone; building or running a session leaves the
// caller's count as it was.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <thread>

#include "graph/model_builder.h"
#include "runtime/op_registry.h"
#include "runtime/parallel.h"
#include "runtime/session.h"

namespace dpl::test {
namespace {

// Passes x through and reports, as a second output, the count its kernel saw:
// {num_threads(), OpContext::threads}.
class TestThreadProbe : public Op {
 public:
  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    out[0] = *in[0];
    out[1] = Tensor::from_vector<float>({2}, {float(num_threads()), float(ctx.threads)});
  }
};

DPL_REGISTER_OP("TestThreadProbe", TestThreadProbe);

// Conv -> SiLU -> residual Add -> Relu on [2, 8, 64, 64]: large enough that the element-wise
// kernels split their loops over threads and oneDNN runs the convolution on them.
OnnxGraph probe_graph() {
  ModelBuilder b;
  b.input("x", {2, 8, 64, 64})
      .init("w", random_tensor({8, 8, 3, 3}, 1, -0.2f, 0.2f))
      .init("b", random_tensor({8}, 2, -0.1f, 0.1f))
      .node("Conv", {"x", "w", "b"}, {"c"}, "conv")
      .attr("pads", std::vector<int64_t>{1, 1, 1, 1})
      .node("Sigmoid", {"c"}, {"s"}, "sigmoid")
      .node("Mul", {"c", "s"}, {"silu"}, "mul")
      .node("Add", {"silu", "x"}, {"r"}, "add")
      .node("Relu", {"r"}, {"relu"}, "relu")
      .node("TestThreadProbe", {"relu"}, {"y", "seen"}, "probe")
      .output("y")
      .output("seen");
  return b.graph();
}

struct Runner {
  std::unique_ptr<Session> session;
  int threads;
  std::vector<int> hook_counts;  // num_threads() in the hook, once per tensor
  Runner(const OnnxGraph& g, int n, bool fuse) : threads(n) {
    SessionOptions o;
    o.threads = n;
    o.fuse = fuse;
    session = std::make_unique<Session>(g, o);
    session->set_hook([this](const std::string&, const Tensor&) { hook_counts.push_back(num_threads()); });
  }
  TensorMap run(const Tensor& x) { return session->run({{"x", x}}); }
  // The counts seen inside the last runs were all this session's own.
  void expect_own_counts(const TensorMap& out) {
    EXPECT_EQ(out.at("seen").to_f32_vector(), (std::vector<float>{float(threads), float(threads)}));
    for (int c : hook_counts) ASSERT_EQ(c, threads);
    hook_counts.clear();
  }
};

void expect_same(const TensorMap& got, const TensorMap& alone) {
  EXPECT_EQ(got.at("y").to_f32_vector(), alone.at("y").to_f32_vector());
}

class SessionThreads : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { set_num_threads(3); }  // the caller's own count, to be left alone
  void TearDown() override {
    EXPECT_EQ(num_threads(), 3);
    set_num_threads(1);
  }
  OnnxGraph graph_ = probe_graph();
  Tensor x_ = random_tensor({2, 8, 64, 64}, 3, -1.f, 1.f);
};

TEST_P(SessionThreads, InterleavedSessionsKeepTheirOwnCounts) {
  Runner one(graph_, 1, GetParam());
  EXPECT_EQ(num_threads(), 3);  // building a session does not change the caller's count
  Runner two(graph_, 2, GetParam());
  EXPECT_EQ(num_threads(), 3);
  const TensorMap one_alone = one.run(x_);
  one.expect_own_counts(one_alone);
  const TensorMap two_alone = two.run(x_);
  two.expect_own_counts(two_alone);
  EXPECT_EQ(num_threads(), 3);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    TensorMap a = one.run(x_);
    TensorMap b = two.run(x_);
    one.expect_own_counts(a);
    two.expect_own_counts(b);
    expect_same(a, one_alone);
    expect_same(b, two_alone);
  }
  // Both counts compute the same function.
  const auto y1 = one_alone.at("y").to_f32_vector(), y2 = two_alone.at("y").to_f32_vector();
  ASSERT_EQ(y1.size(), y2.size());
  for (size_t i = 0; i < y1.size(); ++i) ASSERT_NEAR(y1[i], y2[i], 1e-5f * (1.f + std::fabs(y1[i]))) << i;
}

TEST_P(SessionThreads, SessionsOnTwoThreadsAtOnceKeepTheirOwnCounts) {
  Runner one(graph_, 1, GetParam()), two(graph_, 2, GetParam());
  const TensorMap one_alone = one.run(x_), two_alone = two.run(x_);
  one.hook_counts.clear();
  two.hook_counts.clear();
  // Each worker thread starts from the default count 1 and runs its session 4 times.
  auto work = [this](Runner& r, std::vector<TensorMap>& outs) {
    for (int i = 0; i < 4; ++i) outs.push_back(r.run(x_));
  };
  std::vector<TensorMap> outs1, outs2;
  std::thread t1(work, std::ref(one), std::ref(outs1)), t2(work, std::ref(two), std::ref(outs2));
  t1.join();
  t2.join();
  ASSERT_EQ(outs1.size(), 4u);
  ASSERT_EQ(outs2.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    expect_same(outs1[i], one_alone);
    expect_same(outs2[i], two_alone);
    EXPECT_EQ(outs1[i].at("seen").to_f32_vector(), (std::vector<float>{1.f, 1.f}));
    EXPECT_EQ(outs2[i].at("seen").to_f32_vector(), (std::vector<float>{2.f, 2.f}));
  }
  for (int c : one.hook_counts) ASSERT_EQ(c, 1);
  for (int c : two.hook_counts) ASSERT_EQ(c, 2);
}

TEST_P(SessionThreads, RunRangeUsesTheSessionsCount) {
  Runner two(graph_, 2, GetParam());
  TensorMap all = two.session->run({{"x", x_}}, {"relu"});
  TensorMap tail = two.session->run_range(two.session->node_count() - 1, two.session->node_count(),
                                          {{"relu", all.at("relu")}}, {"seen"});
  EXPECT_EQ(tail.at("seen").to_f32_vector(), (std::vector<float>{2.f, 2.f}));
  EXPECT_EQ(num_threads(), 3);
}

INSTANTIATE_TEST_SUITE_P(FusedAndNot, SessionThreads, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "fused" : "unfused"; });

TEST(ThreadCountScope, SetsAndRestoresTheCallersCount) {
  set_num_threads(2);
  {
    ThreadCountScope outer(4);
    EXPECT_EQ(num_threads(), 4);
    {
      ThreadCountScope inner(1);
      EXPECT_EQ(num_threads(), 1);
    }
    EXPECT_EQ(num_threads(), 4);
    // Another thread has its own count.
    int seen = 0;
    std::thread([&seen] { seen = num_threads(); }).join();
    EXPECT_EQ(seen, 1);
  }
  EXPECT_EQ(num_threads(), 2);
  set_num_threads(1);
}

}  // namespace
}  // namespace dpl::test
