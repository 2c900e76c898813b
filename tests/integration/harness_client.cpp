// HttpClient: a blocking HTTP/1.1 client over a raw loopback socket, with its
// own response parser so tests check the proxy's output independently.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "harness.hpp"
#include "harness_wire.hpp"

namespace routemeter::test {
namespace {

constexpr size_t kMaxResponseHead = 1024 * 1024;

// Where decoded body bytes go: counted, hashed, stored if asked.
struct BodySink {
  Response& r;
  bool store;
  void add(std::string_view piece) {
    r.body_bytes += piece.size();
    r.body_fnv1a = fnv1a(piece, r.body_fnv1a);
    if (store) r.body.append(piece);
  }
};

}  // namespace

HttpClient::HttpClient(uint16_t port, milliseconds timeout) : port_(port), timeout_(timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  fd_ = fd;
}

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void HttpClient::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool HttpClient::send_raw(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool HttpClient::send_request(std::string_view method, std::string_view target,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              std::string_view body) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  bool has_host = false;
  bool has_framing = false;
  for (const auto& [name, value] : headers) {
    has_host = has_host || iequals(name, "Host");
    has_framing =
        has_framing || iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding");
  }
  if (!has_host) out += "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (!body.empty() && !has_framing)
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out.append(body);
  return send_raw(out);
}

ssize_t HttpClient::fill(size_t max) {
  if (fd_ < 0) {
    error_ = "not connected";
    return -1;
  }
  if (eof_) return 0;
  pollfd p{fd_, POLLIN, 0};
  int ready = 0;
  do {
    ready = poll(&p, 1, static_cast<int>(timeout_.count()));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) {
    error_ = "timeout";
    return -1;
  }
  size_t old = buffer_.size();
  buffer_.resize(old + max);
  ssize_t n = 0;
  do {
    n = ::recv(fd_, buffer_.data() + old, max, 0);
  } while (n < 0 && errno == EINTR);
  buffer_.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n == 0) eof_ = true;
  if (n < 0) {
    error_ =
        errno == ECONNRESET ? "connection reset" : std::string("recv: ") + std::strerror(errno);
    if (errno == ECONNRESET) eof_ = reset_ = true;
  }
  return n;
}

Response HttpClient::read_response(bool head_request) {
  ReadOptions options;
  options.head_request = head_request;
  return read_response_with(options);
}

bool HttpClient::read_line(std::string& line, Response& r) {
  for (;;) {
    size_t eol = buffer_.find("\r\n");
    if (eol != std::string::npos) {
      line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 2);
      return true;
    }
    if (buffer_.size() > 4096) {
      r.error = "line too long";
      return false;
    }
    if (fill(64 * 1024) <= 0) {
      r.closed_by_peer = eof_;
      r.error = eof_ && !reset_ ? "closed mid-body" : error_;
      return false;
    }
  }
}

Response HttpClient::read_response_with(const ReadOptions& options) {
  Response r;
  error_.clear();
  // Head.
  size_t end = std::string::npos;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > kMaxResponseHead) {
      r.error = "response head too large";
      return r;
    }
    if (fill(64 * 1024) <= 0) {
      r.closed_by_peer = eof_;
      r.error = eof_ && !reset_ ? (buffer_.empty() ? "closed before response" : "closed in head")
                                : error_;
      return r;
    }
  }
  std::string head = buffer_.substr(0, end + 2);
  buffer_.erase(0, end + 4);
  size_t eol = head.find("\r\n");
  std::string_view status_line(head.data(), eol);
  size_t sp1 = status_line.find(' ');
  if (sp1 == std::string_view::npos || status_line.substr(0, 7) != "HTTP/1." ||
      status_line.size() < sp1 + 4) {
    r.error = "bad status line: " + std::string(status_line);
    return r;
  }
  r.version = status_line.substr(0, sp1);
  int status = 0;
  auto [p, ec] =
      std::from_chars(status_line.data() + sp1 + 1, status_line.data() + sp1 + 4, status);
  if (ec != std::errc() || p != status_line.data() + sp1 + 4 || status < 100 || status > 999) {
    r.error = "bad status line: " + std::string(status_line);
    return r;
  }
  if (status_line.size() > sp1 + 5) r.reason = status_line.substr(sp1 + 5);
  if (!wire::parse_header_lines(std::string_view(head).substr(eol + 2), r.headers)) {
    r.error = "bad header line";
    return r;
  }
  r.status = status;

  // Body.
  BodySink sink{r, options.store_body};
  auto pause = [&] {
    if (options.pause_between_reads.count() > 0) {
      std::this_thread::sleep_for(options.pause_between_reads);
      ++r.pauses;
    }
  };
  if (options.head_request || wire::status_has_no_body(status)) {
    r.complete = true;
    return r;
  }
  auto te = r.headers.get("Transfer-Encoding");
  auto cl = r.headers.get("Content-Length");
  if (te) {
    r.chunked =
        iequals(*te, "chunked") ||
        (te->size() > 7 && iequals(std::string_view(*te).substr(te->size() - 7), "chunked"));
    if (!r.chunked) {
      r.error = "unsupported Transfer-Encoding: " + *te;
      return r;
    }
    for (;;) {
      std::string line;
      if (!read_line(line, r)) return r;
      line = line.substr(0, line.find(';'));
      uint64_t size = 0;
      auto [q, e] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
      if (line.empty() || e != std::errc() || q != line.data() + line.size()) {
        r.error = "bad chunk size: " + line;
        return r;
      }
      if (size == 0) break;
      while (size > 0) {
        if (buffer_.empty()) {
          pause();
          if (fill(options.read_size) <= 0) {
            r.closed_by_peer = eof_;
            r.error = eof_ && !reset_ ? "closed mid-body" : error_;
            return r;
          }
        }
        size_t take = static_cast<size_t>(std::min<uint64_t>(size, buffer_.size()));
        sink.add(std::string_view(buffer_).substr(0, take));
        buffer_.erase(0, take);
        size -= take;
      }
      if (!read_line(line, r)) return r;
      if (!line.empty()) {
        r.error = "missing CRLF after chunk data";
        return r;
      }
    }
    for (;;) {  // trailers
      std::string line;
      if (!read_line(line, r)) return r;
      if (line.empty()) break;
    }
    r.complete = true;
    return r;
  }
  if (cl) {
    uint64_t remaining = 0;
    auto [q, e] = std::from_chars(cl->data(), cl->data() + cl->size(), remaining);
    if (cl->empty() || e != std::errc() || q != cl->data() + cl->size()) {
      r.error = "bad Content-Length: " + *cl;
      return r;
    }
    for (;;) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining, buffer_.size()));
      sink.add(std::string_view(buffer_).substr(0, take));
      buffer_.erase(0, take);
      remaining -= take;
      if (remaining == 0) break;
      pause();
      if (fill(static_cast<size_t>(std::min<uint64_t>(options.read_size, remaining))) <= 0) {
        r.closed_by_peer = eof_;
        r.error = eof_ && !reset_ ? "closed mid-body" : error_;
        return r;
      }
    }
    r.complete = true;
    return r;
  }
  // Close-delimited.
  for (;;) {
    sink.add(buffer_);
    buffer_.clear();
    pause();
    ssize_t n = fill(options.read_size);
    if (n == 0) break;
    if (n < 0) {
      r.closed_by_peer = eof_;
      r.error = error_;
      return r;
    }
  }
  r.closed_by_peer = true;
  r.complete = true;
  return r;
}

Response HttpClient::request(std::string_view method, std::string_view target,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             std::string_view body) {
  if (!send_request(method, target, headers, body)) {
    Response r;
    r.error = error_;
    return r;
  }
  return read_response(method == "HEAD");
}

std::string HttpClient::read_until_close() {
  while (fill(64 * 1024) > 0) {
  }
  std::string out = std::move(buffer_);
  buffer_.clear();
  return out;
}

bool HttpClient::wait_peer_closed(milliseconds timeout) {
  milliseconds saved = timeout_;
  auto deadline = Clock::now() + timeout;
  bool closed = eof_;
  while (!closed) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    timeout_ = left;
    ssize_t n = fill(64 * 1024);
    closed = n == 0 || eof_;
    if (n < 0 && !eof_) break;  // timeout
  }
  timeout_ = saved;
  return closed;
}

Response http_get(uint16_t port, std::string_view path,
                  const std::vector<std::pair<std::string, std::string>>& headers,
                  milliseconds timeout) {
  HttpClient client(port, timeout);
  if (!client.connected()) {
    Response r;
    r.error = client.error();
    return r;
  }
  auto all = headers;
  bool has_connection = false;
  for (const auto& h : headers) has_connection = has_connection || iequals(h.first, "Connection");
  if (!has_connection) all.emplace_back("Connection", "close");
  return client.request("GET", path, all);
}

std::string scrape(uint16_t admin_port) { return http_get(admin_port, "/metrics").body; }

}  // namespace routemeter::test
