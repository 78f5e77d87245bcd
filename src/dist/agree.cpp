// Collective checks (dist/agree.h).
#include "dist/agree.h"

#include <fmt/format.h>

namespace dpl::dist {

void agree(Comm& comm, const std::function<void()>& f) {
  std::string mine;
  bool failed = false;
  try {
    f();
  } catch (const std::exception& e) {
    mine = e.what();
    failed = true;
    if (!comm.distributed()) throw;
  }
  // One byte says whether the rank failed (a message may be empty).
  const std::vector<std::string> all = comm.allgather((failed ? "1" : "0") + mine);
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r].empty() || all[r][0] != '1') continue;
    const std::string what = all[r].substr(1);
    throw AgreedError(r == 0 ? what : fmt::format("rank {}: {}", r, what));
  }
}

std::string first_failure(Comm& comm, const std::string& failure) {
  if (!comm.distributed()) return failure;
  for (const std::string& f : comm.allgather(failure))
    if (!f.empty()) return f;
  return "";
}

}  // namespace dpl::dist
