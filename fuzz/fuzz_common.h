// What every libFuzzer target of this folder shares (docs/fuzzing.md): quiet logging, one
// thread, and the rule that tells a clean refusal from a finding. dpl::Error is the tool's
// one-line refusal of bad input and ends an input normally; any other exception is a
// finding (its type and message are printed and the process aborts, so libFuzzer keeps the
// input), as are crashes and sanitizer reports, which libFuzzer catches itself.
#pragma once
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

#include "util/error.h"

namespace dpl::fuzz {

inline void quiet_logging() { spdlog::set_level(spdlog::level::off); }

template <class F>
void run_guarded(F&& body) {
  try {
    body();
  } catch (const Error&) {
    // A clean refusal: what the CLI prints as one line.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finding: %s escaped instead of dpl::Error: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
}

// Reads the fuzz input front to back; past the end every value is 0.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
  // A value in [0, n).
  int pick(int n) { return n <= 1 ? 0 : byte() % n; }
  float any_float() {
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= static_cast<uint32_t>(byte()) << (8 * i);
    float f;
    static_assert(sizeof f == sizeof u);
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  std::string rest() {
    std::string s(reinterpret_cast<const char*>(p_), left());
    p_ = end_;
    return s;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace dpl::fuzz
