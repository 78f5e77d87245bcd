// Calibration / inference inputs in the original's layout (docs/spec.md 3):
// <dir>/<graph input name>/<i>.bin, raw little-endian data of the input's full shape (one
// value for a scalar input). A '/' in an input name is a nested folder in the original
// (gpu_0/data_0 -> <dir>/gpu_0/data_0/<i>.bin) and '_' in the folders this tool writes
// (<dir>/gpu_0_data_0/<i>.bin); both are read.
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

// The folder of an input's samples: <dir>/<file_safe_name(input)> when it exists, else
// the original's nested <dir>/<input> when that exists, else the first (to be created).
std::string input_folder(const std::string& dir, const std::string& input);
// File name of sample i of an input, in input_folder().
std::string sample_path(const std::string& dir, const std::string& input, int index);
// Checks, before anything runs, that samples 0..count-1 of every input exist with the
// right size. Resolves unknown dims from the file size when exactly one is unknown.
// Throws naming the first bad file and the expected size.
void validate_samples(const std::string& dir, std::vector<InputSpec>& inputs, int count);
Tensor read_sample(const std::string& dir, const InputSpec& input, int index);
// Samples per run for these inputs: `batch`, or 1 when one of them is a scalar (its
// samples cannot be stacked; a warning says so when batch > 1).
int batch_for_inputs(const std::vector<InputSpec>& inputs, int batch);
// Concatenates samples [first, first + n) along axis 0 (a scalar input: n must be 1).
Tensor read_batch(const std::string& dir, const InputSpec& input, int first, int n);
// Writes raw data atomically.
void write_raw(const std::string& path, const Tensor& t);
// Tensor names may hold '/', which cannot be a folder name: it becomes '_'.
std::string file_safe_name(const std::string& tensor);

}  // namespace dpl
