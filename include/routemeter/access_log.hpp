// The access log: one line per request ([log] access/format), JSON or the
// combined format, to stdout (journald) or a file.
//
// AccessLogSink: where lines go. Owned by the Server (main thread), kept for
// the process lifetime; workers write to its fd. reopen() (SIGUSR1, for
// logrotate) dup2()s a freshly opened file over that fd, so workers never
// see a closed descriptor.
//
// AccessLogWriter: one per worker (its thread only). Lines are formatted into
// a buffer and written in batches (at 32 KiB, or within 200 ms by a timer),
// so logging costs one write(2) per many requests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/event_handles.hpp"
#include "routemeter/request_record.hpp"

namespace routemeter {

class Snapshot;

class AccessLogSink {
 public:
  // nullptr with `error` empty when access = "off"; nullptr with `error` set
  // when the file cannot be opened.
  static std::shared_ptr<AccessLogSink> open(const LogConfig& config, std::string* error);
  ~AccessLogSink();

  int fd() const { return fd_; }
  LogFormat format() const { return format_; }
  const std::string& target() const { return target_; }
  // Re-opens a file target (after logrotate moved it). No-op for stdout.
  bool reopen(std::string* error);

 private:
  AccessLogSink() = default;
  int fd_ = -1;
  bool owns_fd_ = false;
  LogFormat format_ = LogFormat::kJson;
  std::string target_;
};

// What a line says beyond the RequestRecord (views valid during write()).
struct AccessLogFields {
  std::string_view client;
  std::string_view path;     // request target as received
  std::string_view version;  // "HTTP/1.1"
  std::string_view referer;
  std::string_view user_agent;
};

class AccessLogWriter {
 public:
  explicit AccessLogWriter(event_base* base);
  ~AccessLogWriter();  // flushes

  void write(AccessLogSink& sink, const Snapshot& snapshot, const RequestRecord& rec,
             const AccessLogFields& fields);
  void flush();

  // Formatting without I/O (tests).
  static void format_json(std::string& out, const Snapshot& snapshot, const RequestRecord& rec,
                          const AccessLogFields& fields, int64_t unix_ms);
  static void format_combined(std::string& out, const RequestRecord& rec,
                              const AccessLogFields& fields, int64_t unix_ms);

 private:
  static void on_timer(evutil_socket_t, short, void* arg);
  std::string buffer_;
  AccessLogSink* sink_ = nullptr;  // the sink buffer_ belongs to (kept alive by the Server)
  EventPtr timer_;
  bool timer_armed_ = false;
};

}  // namespace routemeter
