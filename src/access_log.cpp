#include "routemeter/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "routemeter/json.hpp"
#include "routemeter/router.hpp"
#include "routemeter/snapshot.hpp"

namespace routemeter {
namespace {

constexpr size_t kFlushBytes = 32 * 1024;

int open_log_file(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

void write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk or a closed pipe loses log lines, never requests
    off += static_cast<size_t>(n);
  }
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
  out.append(buf, static_cast<size_t>(n));
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::shared_ptr<AccessLogSink> AccessLogSink::open(const LogConfig& config, std::string* error) {
  if (config.access == "off") return nullptr;
  std::shared_ptr<AccessLogSink> sink(new AccessLogSink());
  sink->format_ = config.format;
  sink->target_ = config.access;
  if (config.access == "stdout") {
    sink->fd_ = STDOUT_FILENO;
    return sink;
  }
  sink->fd_ = open_log_file(config.access);
  if (sink->fd_ < 0) {
    if (error) *error = "access log " + config.access + ": " + std::strerror(errno);
    return nullptr;
  }
  sink->owns_fd_ = true;
  return sink;
}

AccessLogSink::~AccessLogSink() {
  if (owns_fd_) ::close(fd_);
}

bool AccessLogSink::reopen(std::string* error) {
  if (!owns_fd_) return true;
  int fd = open_log_file(target_);
  if (fd < 0) {
    if (error) *error = "access log " + target_ + ": " + std::strerror(errno);
    return false;
  }
  ::dup2(fd, fd_);  // atomic for concurrent writers
  ::close(fd);
  return true;
}

AccessLogWriter::AccessLogWriter(event_base* base) : timer_(evtimer_new(base, &on_timer, this)) {
  buffer_.reserve(kFlushBytes + 1024);
}

AccessLogWriter::~AccessLogWriter() { flush(); }

void AccessLogWriter::on_timer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<AccessLogWriter*>(arg);
  self->timer_armed_ = false;
  self->flush();
}

void AccessLogWriter::flush() {
  if (sink_ != nullptr && !buffer_.empty()) write_all(sink_->fd(), buffer_);
  buffer_.clear();
}

void AccessLogWriter::write(AccessLogSink& sink, const Snapshot& snapshot, const RequestRecord& rec,
                            const AccessLogFields& fields) {
  if (sink_ != &sink) {
    flush();
    sink_ = &sink;
  }
  const int64_t now = unix_now_ms();
  if (sink.format() == LogFormat::kJson) {
    format_json(buffer_, snapshot, rec, fields, now);
  } else {
    format_combined(buffer_, rec, fields, now);
  }
  if (buffer_.size() >= kFlushBytes) {
    flush();
  } else if (!timer_armed_) {
    timeval tv{0, 200 * 1000};
    evtimer_add(timer_.get(), &tv);
    timer_armed_ = true;
  }
}

void AccessLogWriter::format_json(std::string& out, const Snapshot& snapshot,
                                  const RequestRecord& rec, const AccessLogFields& fields,
                                  int64_t unix_ms) {
  char tbuf[48];
  const auto secs = static_cast<time_t>(unix_ms / 1000);
  tm utc;
  gmtime_r(&secs, &utc);
  size_t n = std::strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(tbuf + n, sizeof tbuf - n, ".%03dZ", static_cast<int>(unix_ms % 1000));
  out += "{\"time\":\"";
  out += tbuf;
  out += "\",\"client\":";
  append_json_string(out, fields.client);
  out += ",\"method\":";
  append_json_string(out, http::method_name(rec.method));
  out += ",\"path\":";
  append_json_string(out, fields.path);
  out += ",\"route\":";
  append_json_string(out, rec.route != nullptr ? std::string_view(rec.route->name) : "unmatched");
  std::string_view upstream = "none";
  std::string_view server = "";
  if (rec.route != nullptr) {
    const ResolvedUpstream& up = snapshot.upstreams()[rec.route->upstream_index];
    upstream = up.config->name;
    if (rec.server >= 0) server = up.server_names[static_cast<size_t>(rec.server)];
  }
  out += ",\"upstream\":";
  append_json_string(out, upstream);
  out += ",\"server\":";
  append_json_string(out, server);
  out += ",\"status\":";
  append_uint(out, static_cast<uint64_t>(rec.status));
  out += ",\"bytes\":";
  append_uint(out, rec.response_body_bytes);
  out += ",\"request_bytes\":";
  append_uint(out, rec.request_body_bytes);
  char dbuf[32];
  const double seconds =
      rec.end_ns > rec.start_ns ? static_cast<double>(rec.end_ns - rec.start_ns) * 1e-9 : 0.0;
  std::snprintf(dbuf, sizeof dbuf, "%.6f", seconds);
  out += ",\"duration\":";
  out += dbuf;
  if (rec.error != UpstreamError::kNone) {
    out += ",\"upstream_error\":";
    append_json_string(out, upstream_error_name(rec.error));
  }
  out += "}\n";
}

void AccessLogWriter::format_combined(std::string& out, const RequestRecord& rec,
                                      const AccessLogFields& fields, int64_t unix_ms) {
  char tbuf[48];
  const auto secs = static_cast<time_t>(unix_ms / 1000);
  tm utc;
  gmtime_r(&secs, &utc);
  std::strftime(tbuf, sizeof tbuf, "[%d/%b/%Y:%H:%M:%S +0000]", &utc);
  auto quoted = [&out](std::string_view s) {
    out += '"';
    if (s.empty()) {
      out += '-';
    } else {
      for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
      }
    }
    out += '"';
  };
  out.append(fields.client.empty() ? std::string_view("-") : fields.client);
  out += " - - ";
  out += tbuf;
  out += " \"";
  out.append(http::method_name(rec.method) == "OTHER" ? std::string_view("-")
                                                      : http::method_name(rec.method));
  out += ' ';
  for (char c : fields.path) out += (c == '"' || static_cast<unsigned char>(c) < 0x20) ? '_' : c;
  out += ' ';
  out.append(fields.version.empty() ? std::string_view("HTTP/1.1") : fields.version);
  out += "\" ";
  append_uint(out, static_cast<uint64_t>(rec.status));
  out += ' ';
  append_uint(out, rec.response_body_bytes);
  out += ' ';
  quoted(fields.referer);
  out += ' ';
  quoted(fields.user_agent);
  out += '\n';
}

}  // namespace routemeter
