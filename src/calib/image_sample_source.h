// Calibration samples straight from a folder of photographs (docs/spec.md 3, beyond): JPEG/PNG/BMP
// files directly in the folder, sorted by name, decoded and preprocessed (io/
// image_preprocess.h) when a batch is asked for, so only the current batch is in memory.
// For models with one image input.
#pragma once
#include <string>
#include <vector>

#include "calib/sample_source.h"
#include "io/image_preprocess.h"

namespace dpl {

class ImageSampleSource : public SampleSource {
 public:
  // Takes the first `count` images of `dir`; checks their count and that each one can be
  // decoded (header only) before anything runs. `opts` must be complete (fit_to_model_input).
  ImageSampleSource(const std::string& dir, std::string input, PreprocessOptions opts, int count);

  int count() const override { return static_cast<int>(files_.size()); }
  TensorMap batch(int first, int n) override;
  std::string describe(int i) const override;
  std::vector<std::string> files() const override { return files_; }

 private:
  std::string input_;
  PreprocessOptions opts_;
  std::vector<std::string> files_;
};

}  // namespace dpl
