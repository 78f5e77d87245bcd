// How a batched tensor value splits into per-sample parts (see observer.h).
#include "calib/observer.h"

namespace dpl {

SampleSplit split_samples(const Tensor& value, int samples) {
  SampleSplit s;
  s.part_size = value.numel();
  if (samples <= 1) return s;
  if (value.rank() > 0 && value.dim(0) % samples == 0) {
    s.parts = samples;
    s.part_size = value.numel() / samples;
    return s;
  }
  s.weight = samples;
  return s;
}

}  // namespace dpl
