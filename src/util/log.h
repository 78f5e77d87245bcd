// Logging: the console and, once the output folder is known, a log file in it
// (log-<YYYY-MM-DD-HH:MM:SS>.txt, as the original). Everything logs through spdlog's
// default logger, so library code just calls spdlog::info/warn.
#pragma once
#include <string>

namespace dpl {

// Console only (stderr for warnings and errors, stdout otherwise). Messages logged before a
// log file is added are also kept (the last 1000) so that the file gets them too.
void setup_console_logging();
// Adds the log file in `output_dir` and returns its path. The file starts with `first_line`
// (when not empty; the original's first line is the parsed arguments), then the messages
// logged since setup_console_logging, then everything after.
std::string add_log_file(const std::string& output_dir, const std::string& first_line = "");
// Writes an error line into the log file only (the command prints it on stderr itself).
void log_error_to_file(const std::string& message);
// Flushes and closes the file sink (tests, or before the folder is removed).
void stop_file_logging();

}  // namespace dpl
