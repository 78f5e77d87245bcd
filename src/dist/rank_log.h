// Logging in a distributed run (docs/distributed.md): rank 0 alone logs to the console and to
// the log file in the output folder; the other ranks keep their warnings, and
// forward_warnings() (collective, called between stages) has rank 0 log them, once per
// distinct message, naming the ranks ("rank 2: ..."), unless rank 0 gave the same warning.
#pragma once
#include "dist/comm.h"

namespace dpl::dist {

// Call after the console logger exists (util/log.h setup_console_logging).
void setup_rank_logging(const Comm& comm);
void forward_warnings(Comm& comm);

}  // namespace dpl::dist
