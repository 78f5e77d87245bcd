// The strided copy engine (src/runtime/ops/data_movement.cpp, behind Slice, Transpose, Expand,
// Tile and DepthToSpace) against a naive reference on random views, single- and
// multi-threaded.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "runtime/ops/data_movement.h"
#include "runtime/parallel.h"
#include "tensor_compare.h"

namespace dpl::test {
namespace {

// ---------------------------------------------------------------- strided copy engine

// Naive reference: walks every output index.
template <typename T>
std::vector<T> naive_view(const std::vector<T>& src, int64_t base, const Shape& shape, const std::vector<int64_t>& st) {
  const int64_t n = shape_numel(shape);
  std::vector<T> out(n);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = base;
    for (size_t d = 0; d < shape.size(); ++d) off += idx[d] * st[d];
    out[i] = src[off];
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

template <typename T>
void check_random_transposes(int threads) {
  std::mt19937 rng(threads * 7 + sizeof(T));
  set_num_threads(threads);
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{2, 64, 40, 33}, {0, 2, 3, 1}},  // NCHW -> NHWC
      {{2, 40, 33, 64}, {0, 3, 1, 2}},  // NHWC -> NCHW
      {{300, 517}, {1, 0}},
      {{3, 4, 5, 6, 7}, {4, 2, 0, 3, 1}},
      {{8, 2, 16, 30, 30}, {0, 2, 1, 3, 4}},  // channel shuffle
      {{1, 2, 2, 3, 50, 50}, {0, 3, 4, 1, 5, 2}},  // DepthToSpace DCR
  };
  for (const auto& [shape, perm] : cases) {
    const int64_t n = shape_numel(shape);
    std::vector<T> v(n);
    for (auto& e : v) e = static_cast<T>(rng());
    Tensor x = Tensor::from_vector<T>(shape, v);
    Tensor y = ops::transpose_tensor(x, perm);
    const auto in_st = shape_strides(shape);
    Shape os;
    std::vector<int64_t> st;
    for (auto p : perm) {
      os.push_back(shape[p]);
      st.push_back(in_st[p]);
    }
    std::vector<T> want = naive_view(v, 0, os, st);
    ASSERT_EQ(y.shape(), os);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), y.data<T>())) << "shape " << shape_str(shape);
  }
  set_num_threads(1);
}

TEST(StridedCopy, TransposesMatchNaiveReference) {
  for (int threads : {1, 2}) {
    check_random_transposes<float>(threads);
    check_random_transposes<uint8_t>(threads);
    check_random_transposes<int64_t>(threads);
    check_random_transposes<int16_t>(threads);
  }
}

TEST(StridedCopy, SlicesAndBroadcastsMatchNaiveReference) {
  std::mt19937 rng(3);
  std::vector<float> v(40 * 50 * 60);
  for (auto& e : v) e = static_cast<float>(rng() % 1000);
  // (base, shape, strides) views of a [40, 50, 60] buffer.
  const std::vector<std::tuple<int64_t, Shape, std::vector<int64_t>>> views = {
      {0, {40, 25, 30}, {3000, 120, 2}},                  // stepped slice
      {39 * 3000 + 59, {40, 50, 60}, {-3000, 60, -1}},    // reversed axes 0 and 2
      {60 * 3, {40, 47, 60}, {3000, 60, 1}},              // contiguous rows
      {7, {40, 3, 50, 60}, {3000, 0, 60, 0}},             // broadcasts
      {0, {60, 40, 50}, {1, 3000, 60}},                   // transposed view
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const auto& [base, shape, st] : views) {
      std::vector<float> got(shape_numel(shape));
      ops::strided_copy(got.data(), v.data() + base, shape, st, sizeof(float));
      EXPECT_EQ(got, naive_view(v, base, shape, st)) << shape_str(shape);
    }
  }
  set_num_threads(1);
}

}  // namespace
}  // namespace dpl::test
