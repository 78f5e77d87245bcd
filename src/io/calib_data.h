// Calibration / inference inputs in the original's layout (SPEC 3):
// <dir>/<graph input name>/<i>.bin, raw little-endian data of the input's full shape.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace dpl {

struct InputSpec {
  std::string name;
  Shape shape;  // full shape of one sample file, batch included; -1 = unknown
  DType dtype = DType::F32;
};

// File name of sample i of an input.
std::string sample_path(const std::string& dir, const std::string& input, int index);
// Checks, before anything runs, that samples 0..count-1 of every input exist with the
// right size. Resolves unknown dims from the file size when exactly one is unknown.
// Throws naming the first bad file and the expected size.
void validate_samples(const std::string& dir, std::vector<InputSpec>& inputs, int count);
Tensor read_sample(const std::string& dir, const InputSpec& input, int index);
// Concatenates samples [first, first + n) along axis 0.
Tensor read_batch(const std::string& dir, const InputSpec& input, int first, int n);
// Writes raw data atomically.
void write_raw(const std::string& path, const Tensor& t);
// Tensor names may hold '/', which cannot be a folder name: it becomes '_'.
std::string file_safe_name(const std::string& tensor);

}  // namespace dpl
