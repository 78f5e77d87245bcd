// The shared main() of every command: runs `run`, turns any exception into one line
// "error: <what>" on stderr and exit code 1 (docs/spec.md 2: exit codes that mean something; a user's
// mistake never ends in a crash or a stack trace).
#pragma once

namespace dpl {

// choose_omp: re-exec with the OpenMP wait policy the load allows first, unless the user
// chose a policy (util/omp_env.h), for the commands that run models.
int command_main(int (*run)(int, char**), int argc, char** argv, bool choose_omp = false);

}  // namespace dpl
