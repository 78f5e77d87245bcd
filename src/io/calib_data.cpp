#include "io/calib_data.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io/atomic_file.h"
#include "util/error.h"

namespace dpl {

namespace fs = std::filesystem;

std::string input_folder(const std::string& dir, const std::string& input) {
  const fs::path flat = fs::path(dir) / file_safe_name(input);
  if (input.find('/') == std::string::npos || fs::is_directory(flat)) return flat.string();
  const fs::path nested = fs::path(dir) / fs::path(input).relative_path();
  return (fs::is_directory(nested) ? nested : flat).string();
}

std::string sample_path(const std::string& dir, const std::string& input, int index) {
  return (fs::path(input_folder(dir, input)) / (std::to_string(index) + ".bin")).string();
}

void validate_samples(const std::string& dir, std::vector<InputSpec>& inputs, int count) {
  DPL_CHECK(fs::is_directory(dir), "input folder {} does not exist", dir);
  DPL_CHECK(count > 0, "the number of samples must be positive, got {}", count);
  for (auto& in : inputs) {
    std::string sub = input_folder(dir, in.name);
    DPL_CHECK(fs::is_directory(sub), "input folder {} for model input '{}' does not exist{}", sub, in.name,
              in.name.find('/') == std::string::npos ? "" : " (nor " + (fs::path(dir) / in.name).string() + ")");
    const size_t esz = dtype_size(in.dtype);
    DPL_CHECK(esz > 0, "model input '{}' has element type {}, which sample files cannot hold", in.name,
              dtype_name(in.dtype));
    int unknown = 0;
    for (int64_t d : in.shape) unknown += d < 0;
    DPL_CHECK(unknown <= 1,
              "model input '{}' has shape {} with several unknown dimensions: give it with --input_shape", in.name,
              shape_str(in.shape));
    Shape known_dims = in.shape;
    for (auto& d : known_dims) d = d < 0 ? 1 : d;
    const int64_t known = shape_numel(known_dims);  // throws when the count overflows
    DPL_CHECK(known <= INT64_MAX / static_cast<int64_t>(esz), "model input '{}' of shape {} has more bytes than a "
              "sample file can hold", in.name, shape_str(in.shape));
    for (int i = 0; i < count; ++i) {
      std::string p = sample_path(dir, in.name, i);
      DPL_CHECK(fs::is_regular_file(p), "sample file {} is missing ({} samples requested, input '{}')", p, count,
                in.name);
      const auto size = static_cast<int64_t>(fs::file_size(p));
      if (unknown == 1) {
        DPL_CHECK(known > 0 && size % (known * static_cast<int64_t>(esz)) == 0,
                  "sample file {} has {} bytes, not a multiple of {} bytes (input '{}' shape {})", p, size,
                  known * esz, in.name, shape_str(in.shape));
        for (auto& d : in.shape)
          if (d < 0) d = size / (known * static_cast<int64_t>(esz));
        unknown = 0;
      }
      const int64_t want = shape_numel(in.shape) * static_cast<int64_t>(esz);
      DPL_CHECK(size == want, "sample file {} has {} bytes, expected {} ({} of shape {})", p, size, want,
                dtype_name(in.dtype), shape_str(in.shape));
    }
  }
}

int batch_for_inputs(const std::vector<InputSpec>& inputs, int batch) {
  if (batch <= 1) return batch;
  for (const auto& in : inputs)
    if (in.shape.empty()) {
      spdlog::warn("model input '{}' is a scalar: samples run one at a time (batch {} not used)", in.name, batch);
      return 1;
    }
  return batch;
}

Tensor read_sample(const std::string& dir, const InputSpec& input, int index) {
  return read_batch(dir, input, index, 1);
}

Tensor read_batch(const std::string& dir, const InputSpec& input, int first, int n) {
  Shape s = input.shape;
  if (s.empty())
    DPL_CHECK(n == 1, "input '{}' is a scalar: its samples cannot be batched (use batch 1)", input.name);
  else {
    DPL_CHECK(n >= 1 && s[0] <= std::numeric_limits<int64_t>::max() / n,
              "input '{}': a batch of {} samples of first dimension {} does not fit in 64 bits", input.name, n, s[0]);
    s[0] *= n;
  }
  Tensor t(input.dtype, s);
  const size_t bytes_per = t.bytes() / n;
  for (int k = 0; k < n; ++k) {
    std::string p = sample_path(dir, input.name, first + k);
    std::ifstream f(p, std::ios::binary);
    DPL_CHECK(f.good(), "cannot open sample file {}", p);
    f.read(static_cast<char*>(t.raw()) + k * bytes_per, static_cast<std::streamsize>(bytes_per));
    DPL_CHECK(static_cast<size_t>(f.gcount()) == bytes_per, "sample file {} is shorter than {} bytes", p, bytes_per);
  }
  return t;
}

void write_raw(const std::string& path, const Tensor& t) {
  write_file_atomic(path, std::string_view(static_cast<const char*>(t.raw()), t.bytes()));
}

std::string file_safe_name(const std::string& tensor) {
  std::string r = tensor;
  for (char& c : r)
    if (c == '/') c = '_';
  return r;
}

}  // namespace dpl
