#include "util/log.h"

#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "util/error.h"

namespace dpl {

namespace {
std::shared_ptr<spdlog::sinks::basic_file_sink_mt> g_file;
// Holds what was logged before the log file exists (its folder is only known once the
// model and the samples have been checked, and their warnings belong in the file too).
std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> g_early;

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
  if (!spdlog::default_logger() || spdlog::default_logger()->name() != "dipoorlet") {
    spdlog::set_default_logger(make_logger());
    g_early.reset();
  }
  if (!g_file && !g_early) {
    g_early = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
    g_early->set_level(spdlog::level::info);
    spdlog::default_logger()->sinks().push_back(g_early);
  }
}

std::string add_log_file(const std::string& output_dir, const std::string& first_line) {
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
  auto& sinks = spdlog::default_logger()->sinks();
  if (!first_line.empty())
    g_file->log(spdlog::details::log_msg(spdlog::default_logger()->name(), spdlog::level::info, first_line));
  if (g_early) {
    for (const auto& m : g_early->last_raw()) g_file->log(m);
    sinks.erase(std::remove(sinks.begin(), sinks.end(), g_early), sinks.end());
    g_early.reset();
  }
  sinks.push_back(g_file);
  return path;
}

void log_error_to_file(const std::string& message) {
  if (!g_file) return;
  g_file->log(spdlog::details::log_msg(spdlog::default_logger()->name(), spdlog::level::err, message));
  g_file->flush();
}

void stop_file_logging() {
  if (!g_file) return;
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), g_file), sinks.end());
  g_file->flush();
  g_file.reset();
}

}  // namespace dpl
