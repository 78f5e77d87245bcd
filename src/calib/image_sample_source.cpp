#include "calib/image_sample_source.h"

#include "util/error.h"

namespace dpl {

ImageSampleSource::ImageSampleSource(const std::string& dir, std::string input, PreprocessOptions opts, int count)
    : input_(std::move(input)), opts_(std::move(opts)) {
  validate(opts_);
  files_ = list_images(dir);
  DPL_CHECK(count >= 1, "-N must be positive, got {}", count);
  DPL_CHECK(static_cast<int>(files_.size()) >= count, "{} calibration images asked for, but {} holds {}", count, dir,
            files_.size());
  files_.resize(count);
  for (const auto& f : files_) probe_image(f);
}

TensorMap ImageSampleSource::batch(int first, int n) {
  DPL_CHECK(first >= 0 && n >= 1 && first + n <= count(), "samples [{}, {}) out of range (0..{})", first, first + n,
            count());
  std::vector<Tensor> parts;
  for (int k = 0; k < n; ++k) parts.push_back(load_image_tensor(files_[first + k], opts_));
  TensorMap r;
  r[input_] = n == 1 ? parts[0] : Tensor::concat_rows(parts);
  return r;
}

std::string ImageSampleSource::describe(int i) const {
  if (i < 0 || i >= count()) return "sample " + std::to_string(i);
  return "sample " + std::to_string(i) + " (" + files_[i] + ")";
}

}  // namespace dpl
