// The resource-limit flags every command that loads a model shares (docs/reliability.md,
// "Limits"): --max_tensor_mb sets the per-tensor memory budget of core/memory_budget.h.
// Header-only, like cli/preprocess_flags.h: the commands link CLI11.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>

#include "core/memory_budget.h"

namespace dpl {

inline void add_limit_flags(CLI::App& app) {
  const size_t default_mb = default_tensor_budget_bytes() >> 20;
  app.add_option_function<uint64_t>(
         "--max_tensor_mb", [](uint64_t mb) { set_tensor_budget_bytes(static_cast<size_t>(mb) << 20); },
         "the most one tensor may take, in MB; a model asking for more is refused before it runs (default: half "
         "of this machine's memory, " +
             std::to_string(default_mb) + ")")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
}

}  // namespace dpl
