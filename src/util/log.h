// Logging: the console and, once the output folder is known, a log file in it
// (log-<YYYY-MM-DD-HH:MM:SS>.txt, as the original). Everything logs through spdlog's
// default logger, so library code just calls spdlog::info/warn.
#pragma once
#include <string>

namespace dpl {

// Console only (stderr for warnings and errors, stdout otherwise).
void setup_console_logging();
// Adds the log file in `output_dir`; returns its path.
std::string add_log_file(const std::string& output_dir);
// Flushes and closes the file sink (tests, or before the folder is removed).
void stop_file_logging();

}  // namespace dpl
