// Tensor and shape arithmetic on the sizes a hostile model may declare (docs/fuzzing.md): an
// element count that does not fit 64 bits, or a byte count beyond what memory can address,
// is a clean error instead of a wrapped count and a buffer too small for its shape.
#include <gtest/gtest.h>

#include <limits>

#include "core/memory_budget.h"
#include "core/tensor.h"
#include "util/error.h"

namespace dpl::test {
namespace {

TEST(Tensor, ElementCountThatOverflowsIsRefused) {
  const int64_t big = int64_t{1} << 32;
  try {
    shape_numel({big, big});  // 2^64: wrapped to 0 before
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[4294967296,4294967296] has more elements"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tensor(DType::F32, {big, big}), Error);
  EXPECT_THROW(Tensor(DType::U8, {3, int64_t{1} << 62}), Error);
}

TEST(Tensor, ByteCountBeyondAddressableMemoryIsRefused) {
  // 2^61 doubles: the element count fits, the byte count (2^64) does not. The memory budget
  // (core/memory_budget.h) refuses it first, naming the shape and the byte count.
  try {
    Tensor t(DType::F64, {int64_t{1} << 61});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("[2305843009213693952]"), std::string::npos) << what;
    EXPECT_NE(what.find("2^64 bytes"), std::string::npos) << what;
  }
  // With no budget, the byte count itself is refused (it would not fit size_t).
  set_tensor_budget_bytes(std::numeric_limits<size_t>::max());
  try {
    Tensor t(DType::F64, {int64_t{1} << 61});
    set_tensor_budget_bytes(0);
    FAIL() << "no error";
  } catch (const Error& e) {
    set_tensor_budget_bytes(0);
    EXPECT_NE(std::string(e.what()).find("more bytes than memory can address"), std::string::npos) << e.what();
  }
}

TEST(Tensor, ShapeCountsKeepTheirMeaning) {
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({2, 0, 5}), 0);
  EXPECT_EQ(shape_numel({-1, 3}), -3);  // unknown dimensions: callers test the sign
  EXPECT_EQ(shape_numel({int64_t{1} << 31, int64_t{1} << 31}), int64_t{1} << 62);
  EXPECT_EQ(Tensor(DType::F32, {2, 3}).bytes(), 24u);
}

// Found by fuzz_model: a ConstantOfShape whose shape was a float tensor holding -1.9e38 made
// the cast to int64 undefined behaviour. Floats read as integers must fit one.
TEST(Tensor, FloatsReadAsIntegersMustFitOne) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor t = Tensor::from_vector<float>({6}, {3.f, -2.f, -1.9e38f, 1e19f, inf, nan});
  EXPECT_EQ(t.at_i64(0), 3);
  EXPECT_EQ(t.at_i64(1), -2);
  for (int64_t i = 2; i < 6; ++i) {
    try {
      t.at_i64(i);
      ADD_FAILURE() << "element " << i << " was read as an integer";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no 64-bit integer holds it"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(t.to_i64_vector(), Error);
  EXPECT_EQ(Tensor::from_vector<double>({1}, {-9223372036854775808.0}).at_i64(0), INT64_MIN);
}

}  // namespace
}  // namespace dpl::test
