// Error and lifecycle logging on stderr ("routemeter: <level>: <message>"),
// filtered by [log] level. Thread-safe: each line is one write(2).
#pragma once

#include <string_view>

#include "routemeter/config.hpp"

namespace routemeter {

void set_log_level(LogLevel level);
void log(LogLevel level, std::string_view message);
inline void log_info(std::string_view m) { log(LogLevel::kInfo, m); }
inline void log_error(std::string_view m) { log(LogLevel::kError, m); }

}  // namespace routemeter
