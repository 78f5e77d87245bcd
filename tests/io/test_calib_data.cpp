// The sample layout (io/calib_data.h): an input named with a '/' is found in the original's
// nested folders as well as in the flattened folder this tool writes, the flattened one
// first; a scalar input's files hold one value and are read as a rank-0 tensor, one sample
// at a time.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/calib_data.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dpl::test {
namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("dpl_test_calib_data_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write_samples(const fs::path& folder, int n, const Shape& shape) {
  fs::create_directories(folder);
  for (int i = 0; i < n; ++i) {
    Tensor t(DType::F32, shape);
    for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = static_cast<float>(10 * i + k);
    write_raw((folder / (std::to_string(i) + ".bin")).string(), t);
  }
}

TEST(CalibData, NestedLayoutOfTheOriginalIsRead) {
  TempDir d;
  write_samples(d.path / "gpu_0" / "data_0", 2, {1, 3});
  std::vector<InputSpec> specs{{"gpu_0/data_0", {1, 3}, DType::F32}};
  EXPECT_EQ(input_folder(d.path.string(), "gpu_0/data_0"), (d.path / "gpu_0" / "data_0").string());
  EXPECT_EQ(sample_path(d.path.string(), "gpu_0/data_0", 1), (d.path / "gpu_0" / "data_0" / "1.bin").string());
  validate_samples(d.path.string(), specs, 2);
  const Tensor t = read_batch(d.path.string(), specs[0], 0, 2);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.to_f32_vector(), (std::vector<float>{0, 1, 2, 10, 11, 12}));
}

TEST(CalibData, FlattenedLayoutComesFirst) {
  TempDir d;
  write_samples(d.path / "gpu_0" / "data_0", 1, {1, 3});
  write_samples(d.path / "gpu_0_data_0", 1, {1, 2});
  EXPECT_EQ(input_folder(d.path.string(), "gpu_0/data_0"), (d.path / "gpu_0_data_0").string());
  std::vector<InputSpec> specs{{"gpu_0/data_0", {1, 2}, DType::F32}};
  validate_samples(d.path.string(), specs, 1);
  // Neither there: the flattened name, where a writer creates it, and the error names both.
  EXPECT_EQ(input_folder(d.path.string(), "in/x"), (d.path / "in_x").string());
  std::vector<InputSpec> missing{{"in/x", {1}, DType::F32}};
  try {
    validate_samples(d.path.string(), missing, 1);
    ADD_FAILURE() << "a missing input folder must fail";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((d.path / "in_x").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find((d.path / "in" / "x").string()), std::string::npos) << msg;
  }
}

TEST(CalibData, ScalarSamplesAreOneValue) {
  TempDir d;
  fs::create_directories(d.path / "s");
  for (int i = 0; i < 2; ++i)
    write_raw((d.path / "s" / (std::to_string(i) + ".bin")).string(),
              Tensor::from_vector<float>(Shape{}, {static_cast<float>(i) + 0.5f}));
  std::vector<InputSpec> specs{{"s", {}, DType::F32}};
  validate_samples(d.path.string(), specs, 2);
  const Tensor t = read_batch(d.path.string(), specs[0], 1, 1);
  EXPECT_EQ(t.rank(), 0);
  EXPECT_EQ(t.to_f32_vector(), std::vector<float>{1.5f});
  EXPECT_THROW(read_batch(d.path.string(), specs[0], 0, 2), Error);
}

// What a model may declare for an input (docs/fuzzing.md): a string input with an unknown
// dimension divided by a zero element size; dimensions whose byte count overflows were
// undefined behaviour. Both are one clear error now.
TEST(CalibData, InputsNoSampleFileCanHoldAreRefused) {
  TempDir d;
  fs::create_directories(d.path / "s");
  std::ofstream(d.path / "s" / "0.bin") << "abcd";
  std::vector<InputSpec> str{{"s", {1, -1}, DType::String}};
  try {
    validate_samples(d.path.string(), str, 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'s' has element type string"), std::string::npos) << e.what();
  }
  std::vector<InputSpec> huge{{"s", {int64_t{1} << 31, int64_t{1} << 31}, DType::F32}};
  EXPECT_THROW(validate_samples(d.path.string(), huge, 1), Error);
  std::vector<InputSpec> wraps{{"s", {-1, int64_t{1} << 40, int64_t{1} << 40}, DType::F32}};
  EXPECT_THROW(validate_samples(d.path.string(), wraps, 1), Error);
  std::vector<InputSpec> fine{{"s", {-1}, DType::U8}};  // the control: 4 bytes, 4 elements
  validate_samples(d.path.string(), fine, 1);
  EXPECT_EQ(fine[0].shape, (Shape{4}));
}

// Found by fuzz_samples (docs/fuzzing.md): batching samples whose first dimension is near
// INT64_MAX multiplied it past 64 bits (undefined behaviour) before any size check.
TEST(CalibData, BatchWhoseFirstDimensionWouldOverflowIsRefused) {
  TempDir d;
  fs::create_directories(d.path / "x");
  const InputSpec big{"x", {INT64_MAX / 2 + 1, 1}, DType::U8};
  try {
    read_batch(d.path.string(), big, 0, 2);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'x': a batch of 2 samples of first dimension 4611686018427387904 "
                                         "does not fit in 64 bits"),
              std::string::npos)
        << e.what();
  }
  // The control: two 3-byte samples make a [2, 3] batch.
  std::ofstream(d.path / "x" / "0.bin") << "abc";
  std::ofstream(d.path / "x" / "1.bin") << "def";
  const Tensor t = read_batch(d.path.string(), InputSpec{"x", {1, 3}, DType::U8}, 0, 2);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(std::string(static_cast<const char*>(t.raw()), 6), "abcdef");
}

}  // namespace
}  // namespace dpl::test
