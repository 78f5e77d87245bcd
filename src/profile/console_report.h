// The console (and log file) summary of profiling, in the original's layout (profiling.py's
// show_model_profiling_res, show_model_ranges, weight_need_perchannel), with SQNR and
// relative MSE after every cosine, then the sensitivity list and the suggested skip list.
#pragma once
#include <string>
#include <vector>

#include "profile/report.h"

namespace dpl {

// The lines, without logger prefixes (tests read them; log_profile_report logs each).
std::vector<std::string> profile_report_lines(const ProfileReport& r);
void log_profile_report(const ProfileReport& r);

// "[1, 3, 416, 416]" as Python prints a shape list; "None" when unknown.
std::string python_shape(const std::optional<Shape>& s);

}  // namespace dpl
