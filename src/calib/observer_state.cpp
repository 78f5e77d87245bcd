// Bounds-checked reading of an observer's state bytes (see observer_state.h).
#include "calib/observer_state.h"

#include <cstring>

namespace dpl {

ByteReader::ByteReader(std::string_view in, uint32_t tag, std::string kind) : in_(in), kind_(std::move(kind)) {
  DPL_CHECK(get<uint32_t>() == tag, "calibration state is not {}'s", kind_);
}

void ByteReader::get_bytes(void* p, size_t n) {
  DPL_CHECK(n <= in_.size() - pos_, "calibration state is truncated ({} bytes, needed {} more at offset {})",
            in_.size(), n, pos_);
  if (n == 0) return;  // p may be the null data() of an empty vector
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
