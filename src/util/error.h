// Errors the user can act on: one line naming the problem. Thrown anywhere in the
// library, caught once in each command's main() and turned into a non-zero exit.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace dpl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace dpl

// DPL_CHECK(cond, "format {}", args...): throws dpl::Error with the message when cond is false.
#define DPL_CHECK(cond, ...)            \
  do {                                  \
    if (!(cond)) ::dpl::fail(__VA_ARGS__); \
  } while (0)
