// Checks every rank runs together (docs/distributed.md, "Bad input"): when any rank fails
// one, every rank learns it, so no rank is left waiting in a collective and the user gets
// one line, printed by rank 0, naming the rank that failed.
#pragma once
#include <functional>
#include <string>

#include "dist/comm.h"
#include "util/error.h"

namespace dpl::dist {

// Thrown on every rank when a rank failed inside agree(): rank 0 prints it, the others
// exit quietly with the same status.
class AgreedError : public Error {
 public:
  using Error::Error;
};

// Runs `f` on every rank (collective). When it throws on some ranks, every rank throws
// AgreedError with the lowest such rank's message ("rank r: ..." when r is not 0).
void agree(Comm& comm, const std::function<void()>& f);

// Collective: the lowest rank's non-empty `failure` ("" when no rank failed), for work that
// falls back instead of stopping when it fails on any rank (all ranks then fall back alike).
std::string first_failure(Comm& comm, const std::string& failure);

}  // namespace dpl::dist
