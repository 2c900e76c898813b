// `routemeter top` (docs/operations.md, "routemeter top"): the RED table of
// GET /status.json in a terminal, refreshed in place, or printed once as
// plain text (--once) for scripts. A blocking HTTP/1.1 GET over a plain
// socket, one connection per refresh. Runs on the calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/json_value.hpp"

namespace routemeter {

// Exit codes of `routemeter top`.
constexpr int kTopOk = 0;
constexpr int kTopUsage = 2;         // bad arguments, unreadable token file
constexpr int kTopUnreachable = 3;   // cannot connect, timeout, not HTTP
constexpr int kTopUnauthorized = 4;  // 401: no token, or the wrong one
constexpr int kTopBadAnswer = 5;     // another status, or not the JSON of /status.json

enum class TopSort { kRate, kErrors };

struct TopOptions {
  std::string host = "127.0.0.1";  // the admin listener's default ([admin] listen)
  uint16_t port = 9901;
  std::string token_file;  // empty: no token
  TopSort sort = TopSort::kRate;
  bool once = false;
  std::chrono::milliseconds interval{2000};
};

struct TopArgsResult {
  std::optional<TopOptions> options;
  std::string error;
  bool help = false;
};
// `args`: what follows "top" on the command line.
TopArgsResult parse_top_args(const std::vector<std::string_view>& args);
std::string top_usage();

struct AdminFetch {
  int status = 0;     // the HTTP status; 0 when there was no answer
  std::string body;   // de-chunked
  std::string error;  // why there was no answer ("connection refused")
};
// GET `path` from host:port with "Authorization: Bearer <token>" when
// `token` is not empty, "Connection: close", at most `timeout` per step.
AdminFetch admin_get(const std::string& host, uint16_t port, std::string_view path,
                     std::string_view token, std::chrono::milliseconds timeout);

// The table of one /status.json answer as plain text (no escapes): routes,
// then upstreams, each sorted by `sort`; `title` is the first line.
std::string format_top_table(const JsonValue& status, TopSort sort, std::string_view title);

// The whole command; returns the exit code.
int run_top(const std::vector<std::string_view>& args, std::ostream& out, std::ostream& err);

}  // namespace routemeter
