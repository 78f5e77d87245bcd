#include "util/log.h"

#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "util/error.h"

namespace dpl {

namespace {
std::shared_ptr<spdlog::sinks::basic_file_sink_mt> g_file;

std::shared_ptr<spdlog::logger> make_logger() {
  auto out = std::make_shared<spdlog::sinks::ansicolor_stdout_sink_mt>();
  out->set_level(spdlog::level::info);
  auto logger = std::make_shared<spdlog::logger>("dipoorlet", spdlog::sinks_init_list{out});
  logger->set_pattern("[%H:%M:%S] %^%l%$: %v");
  logger->set_level(spdlog::level::info);
  return logger;
}
}  // namespace

void setup_console_logging() {
  if (spdlog::default_logger() && spdlog::default_logger()->name() == "dipoorlet") return;
  spdlog::set_default_logger(make_logger());
}

std::string add_log_file(const std::string& output_dir) {
  setup_console_logging();
  stop_file_logging();
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d-%H:%M:%S", std::localtime(&now));
  std::string path = (std::filesystem::path(output_dir) / (std::string("log-") + stamp + ".txt")).string();
  try {
    g_file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, true);
  } catch (const spdlog::spdlog_ex& e) {
    fail("cannot write the log file {}: {}", path, e.what());
  }
  g_file->set_pattern("[%Y-%m-%d %H:%M:%S] %l: %v");
  spdlog::default_logger()->sinks().push_back(g_file);
  return path;
}

void stop_file_logging() {
  if (!g_file) return;
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), g_file), sinks.end());
  g_file->flush();
  g_file.reset();
}

}  // namespace dpl
