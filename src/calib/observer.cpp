#include "calib/observer.h"

#include <cstring>

#include "util/error.h"

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

void ByteReader::get_bytes(void* p, size_t n) {
  DPL_CHECK(n <= in_.size() - pos_, "calibration state is truncated ({} bytes, needed {} more at offset {})",
            in_.size(), n, pos_);
  std::memcpy(p, in_.data() + pos_, n);
  pos_ += n;
}

std::string ByteReader::get_string() {
  const auto n = get<uint64_t>();
  DPL_CHECK(n <= in_.size() - pos_, "calibration state is truncated (string of {} bytes at offset {})", n, pos_);
  std::string s(in_.substr(pos_, n));
  pos_ += n;
  return s;
}

}  // namespace dpl
