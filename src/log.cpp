#include "routemeter/log.hpp"

#include <unistd.h>

#include <atomic>
#include <string>

namespace routemeter {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

void log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  std::string line = "routemeter: ";
  line += level_name(level);
  line += ": ";
  line += message;
  line += '\n';
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace routemeter
