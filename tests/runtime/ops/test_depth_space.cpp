// DepthToSpace (CRD and DCR) and SpaceToDepth (src/runtime/ops/depth_space.cpp).
#include <gtest/gtest.h>

#include "runtime/op_tester.h"
#include "runtime/ops/op_test_util.h"

namespace dpl::test {
namespace {

TEST(DepthSpace, CrdDcrAndSpaceToDepth) {
  // C = 4, blocksize 2, H = W = 1: DCR puts channel (i*2 + j) at (i, j); CRD the same for
  // one output channel, so use C = 8 (two output channels) to tell them apart.
  std::vector<float> x = iota_f(8);
  OpTester d("DepthToSpace");
  d.attr("blocksize", int64_t{2}).attr("mode", std::string("DCR"));
  d.input<float>("X", {1, 8, 1, 1}, x);
  // DCR: out[c, i, j] = in[(i*2 + j)*2 + c]
  d.output<float>("Y", {1, 2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7});
  d.run();
  OpTester c("DepthToSpace");
  c.attr("blocksize", int64_t{2}).attr("mode", std::string("CRD"));
  c.input<float>("X", {1, 8, 1, 1}, x);
  // CRD: out[c, i, j] = in[c*4 + i*2 + j]
  c.output<float>("Y", {1, 2, 2, 2}, iota_f(8));
  c.run();
  // SpaceToDepth inverts DCR.
  OpTester s("SpaceToDepth");
  s.attr("blocksize", int64_t{2});
  s.input<float>("X", {1, 2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7});
  s.output<float>("Y", {1, 8, 1, 1}, x);
  s.run();
}

}  // namespace
}  // namespace dpl::test
