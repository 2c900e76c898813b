#include "routemeter/client_connection.hpp"

#include <cerrno>
#include <cstring>

#include "routemeter/net.hpp"
#include "routemeter/reply.hpp"
#include "routemeter/router.hpp"
#include "routemeter/worker.hpp"

namespace routemeter {
namespace {

constexpr size_t kReadSize = 64 * 1024;
// Client output above this pauses upstream reads; below kLowWater resumes them.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kLowWater = 64 * 1024;
// While a request is in progress, stop reading pipelined input beyond this.
constexpr size_t kMaxPipelined = 64 * 1024;
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

bool is_retryable(http::Method m) {
  switch (m) {
    case http::Method::kGet:
    case http::Method::kHead:
    case http::Method::kOptions:
    case http::Method::kTrace:
    case http::Method::kPut:
    case http::Method::kDelete:
      return true;
    default:
      return false;
  }
}

}  // namespace

ClientConnection::ClientConnection(Worker& worker, int fd, std::string client_ip)
    : worker_(worker),
      fd_(fd),
      client_ip_(std::move(client_ip)),
      read_ev_(event_new(worker.base(), fd, EV_READ | EV_PERSIST, &on_read, this)),
      write_ev_(event_new(worker.base(), fd, EV_WRITE | EV_PERSIST, &on_write, this)),
      timer_ev_(evtimer_new(worker.base(), &on_timer, this)),
      in_(evbuffer_new()),
      out_(evbuffer_new()),
      body_(evbuffer_new()),
      exchange_(*this) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::start() {
  want_read(true);
  set_timer(worker_.header_timeout());
}

void ClientConnection::on_read(evutil_socket_t, short, void* arg) {
  static_cast<ClientConnection*>(arg)->handle_read();
}
void ClientConnection::on_write(evutil_socket_t, short, void* arg) {
  static_cast<ClientConnection*>(arg)->handle_write();
}
void ClientConnection::on_timer(evutil_socket_t, short, void* arg) {
  static_cast<ClientConnection*>(arg)->handle_timer();
}

void ClientConnection::want_read(bool on) {
  if (on == reading_ || closed_) return;
  reading_ = on;
  if (on) {
    event_add(read_ev_.get(), nullptr);
  } else {
    event_del(read_ev_.get());
  }
}

void ClientConnection::want_write(bool on) {
  if (on == writing_ || closed_) return;
  writing_ = on;
  if (on) {
    event_add(write_ev_.get(), nullptr);
  } else {
    event_del(write_ev_.get());
  }
}

void ClientConnection::set_timer(const timeval* tv) {
  if (tv == nullptr) {
    evtimer_del(timer_ev_.get());
  } else {
    evtimer_add(timer_ev_.get(), tv);
  }
}

void ClientConnection::handle_read() {
  ssize_t n = read_into(in_.get(), fd_.get(), kReadSize);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    close();  // reset by the client
    return;
  }
  if (n == 0) {
    client_eof_ = true;
    want_read(false);
    // A half-closed client may still wait for the answer to what it sent;
    // with nothing (or only part of a head) pending there is nothing to answer.
    if (state_ == State::kIdle || state_ == State::kHead || state_ == State::kBody) {
      if (state_ != State::kIdle || evbuffer_get_length(in_.get()) == 0) {
        close();
        return;
      }
    } else {
      return;
    }
  }
  if (state_ == State::kExchange || state_ == State::kReplying) {
    if (evbuffer_get_length(in_.get()) > kMaxPipelined) want_read(false);
    return;
  }
  process();
}

void ClientConnection::process() {
  processing_ = true;
  while (!closed_) {
    if (state_ == State::kIdle || state_ == State::kHead) {
      if (!parse_head()) break;
    }
    if (state_ == State::kBody) {
      if (!read_body()) break;
      dispatch();
    }
    // A proxy-made reply may have completed synchronously and left the
    // connection idle again: go on with pipelined requests, if any.
    if (state_ != State::kIdle || evbuffer_get_length(in_.get()) == 0) break;
  }
  processing_ = false;
}

bool ClientConnection::parse_head() {
  const size_t avail = evbuffer_get_length(in_.get());
  if (avail == 0) return false;
  const ServerConfig& sc = worker_.server_config();
  http::RequestLimits limits;
  limits.max_header_bytes = sc.max_header_bytes;
  limits.max_request_line = std::min<size_t>(limits.max_request_line, sc.max_header_bytes);
  const size_t look = std::min<size_t>(avail, sc.max_header_bytes + 1);
  const char* data =
      reinterpret_cast<const char*>(evbuffer_pullup(in_.get(), static_cast<ev_ssize_t>(look)));
  http::ParseResult res = http::parse_request_head(data, look, limits, head_);
  if (res.status == http::ParseStatus::kIncomplete) {
    if (state_ == State::kIdle) {
      state_ = State::kHead;
      set_timer(worker_.header_timeout());
    }
    if (client_eof_) close();
    return false;
  }
  record_.clear();
  record_.start_ns = monotonic_ns();
  runtime_ = worker_.runtime();
  if (res.status == http::ParseStatus::kError) {
    record_.method = head_.method;
    reply(res.error_status, true);
    return false;
  }
  record_.method = head_.method;
  if (AccessLogSink* sink = runtime_->snapshot->access_log()) {
    // The head's bytes go away before the line is written: keep what it needs.
    log_target_.assign(head_.target);
    log_version_ = head_.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
    if (sink->format() == LogFormat::kCombined) {
      for (const http::Header& h : head_.headers) {
        if (http::iequals(h.name, "referer")) log_referer_.assign(h.value);
        if (http::iequals(h.name, "user-agent")) log_user_agent_.assign(h.value);
      }
    }
  }
  keep_alive_ = head_.version_minor >= 1 ? !head_.framing.connection_close
                                         : head_.framing.connection_keep_alive;
  if (worker_.draining()) keep_alive_ = false;

  std::string_view path;
  if (!normalize_path(head_.path, path_scratch_, path)) {
    reply(400, true);
    return false;
  }
  const Router::Match match =
      runtime_->snapshot->router().classify(head_.method_token, head_.host, path);
  record_.route = match.route;
  worker_.begin(*runtime_->snapshot, record_);

  chunked_body_ = head_.framing.chunked;
  body_remaining_ = head_.framing.has_content_length ? head_.framing.content_length : 0;
  if (body_remaining_ > sc.max_body_bytes) {
    reply(413, true);
    return false;
  }
  if (match.route != nullptr) {
    exchange_req_.upstream = match.route->upstream_index;
    exchange_req_.method = head_.method;
    exchange_req_.client_http10 = head_.version_minor == 0;
    exchange_req_.retryable = false;
    render_upstream_head(head_, match.forward_path);
  }
  const bool expect = head_.framing.expect_continue && head_.version_minor >= 1;
  evbuffer_drain(in_.get(), res.head_bytes);
  chunked_.reset();
  evbuffer_drain(body_.get(), evbuffer_get_length(body_.get()));
  state_ = State::kBody;
  const bool has_body = chunked_body_ || body_remaining_ > 0;
  if (expect && has_body && evbuffer_get_length(in_.get()) == 0) {
    evbuffer_add(out_.get(), kContinue, sizeof kContinue - 1);
    if (!flush()) return false;
  }
  if (has_body) set_timer(worker_.body_timeout());
  return true;
}

bool ClientConnection::read_body() {
  const uint64_t max_body = worker_.server_config().max_body_bytes;
  size_t before = evbuffer_get_length(body_.get());
  if (!chunked_body_) {
    size_t avail = evbuffer_get_length(in_.get());
    auto take = static_cast<size_t>(std::min<uint64_t>(avail, body_remaining_));
    if (take > 0) evbuffer_remove_buffer(in_.get(), body_.get(), take);
    body_remaining_ -= take;
  } else {
    while (!chunked_.done()) {
      size_t avail = evbuffer_get_length(in_.get());
      if (avail == 0) break;
      if (chunked_.state() == http::ChunkedParser::State::kData) {
        uint64_t want = chunked_.data_remaining();
        if (evbuffer_get_length(body_.get()) + want > max_body) {
          reply(413, true);
          return false;
        }
        auto take = static_cast<size_t>(std::min<uint64_t>(avail, want));
        evbuffer_remove_buffer(in_.get(), body_.get(), take);
        chunked_.consume_data(take);
        continue;
      }
      size_t look = std::min<size_t>(avail, 4096);
      const char* p =
          reinterpret_cast<const char*>(evbuffer_pullup(in_.get(), static_cast<ev_ssize_t>(look)));
      size_t used = chunked_.parse(p, look);
      evbuffer_drain(in_.get(), used);
      if (chunked_.failed()) {
        reply(400, true);
        return false;
      }
    }
  }
  const size_t body_len = evbuffer_get_length(body_.get());
  if (body_len != before) set_timer(worker_.body_timeout());
  const bool complete = chunked_body_ ? chunked_.done() : body_remaining_ == 0;
  if (!complete) {
    if (client_eof_) close();  // the body can never arrive
    return false;
  }
  record_.request_body_bytes = body_len;
  if (chunked_body_ && record_.route != nullptr) {
    // Re-framed: the upstream gets the de-chunked body with a Content-Length.
    upstream_head_ += "Content-Length: ";
    upstream_head_ += std::to_string(body_len);
    upstream_head_ += "\r\n";
  }
  if (record_.route != nullptr) upstream_head_ += "\r\n";
  exchange_req_.retryable = body_len == 0 && is_retryable(head_.method);
  return true;
}

void ClientConnection::render_upstream_head(const http::RequestHead& head, std::string_view path) {
  std::string& h = upstream_head_;
  h.clear();
  h.append(head.method_token);
  h += ' ';
  h.append(path);
  if (!head.query.empty() || head.target.find('?') != std::string_view::npos) {
    h += '?';
    h.append(head.query);
  }
  h += " HTTP/1.1\r\n";
  const http::HopByHop hop(head.headers);
  bool has_xff = false;
  for (const http::Header& f : head.headers) {
    if (hop.contains(f.name) || http::iequals(f.name, "host") ||
        http::iequals(f.name, "content-length") || http::iequals(f.name, "expect") ||
        http::iequals(f.name, "x-forwarded-proto") || http::iequals(f.name, "x-forwarded-host")) {
      continue;
    }
    if (http::iequals(f.name, "x-forwarded-for")) {
      has_xff = true;
      continue;
    }
    h.append(f.name);
    h += ": ";
    h.append(f.value);
    h += "\r\n";
  }
  if (!head.host.empty()) {
    h += "Host: ";
    h.append(head.host);
    h += "\r\n";
  }
  h += "X-Forwarded-For: ";
  if (has_xff) {
    // Every X-Forwarded-For field received forms one list, in order; we add ours.
    for (const http::Header& f : head.headers) {
      if (http::iequals(f.name, "x-forwarded-for")) {
        h.append(f.value);
        h += ", ";
      }
    }
  }
  h.append(client_ip_);
  h += "\r\nX-Forwarded-Proto: http\r\n";
  if (!head.host.empty()) {
    h += "X-Forwarded-Host: ";
    h.append(head.host);
    h += "\r\n";
  }
  if (head.framing.has_content_length && !head.framing.chunked) {
    h += "Content-Length: ";
    h += std::to_string(head.framing.content_length);
    h += "\r\n";
  }
}

void ClientConnection::dispatch() {
  set_timer(nullptr);
  if (record_.route == nullptr) {
    reply(404, !keep_alive_);
    return;
  }
  state_ = State::kExchange;
  if (evbuffer_get_length(in_.get()) > kMaxPipelined) want_read(false);
  exchange_.start(runtime_, exchange_req_, upstream_head_, body_.get());
}

void ClientConnection::reply(int status, bool close_after) {
  if (close_after) keep_alive_ = false;
  record_.status = status;
  if (record_.start_ns == 0) record_.start_ns = monotonic_ns();
  const bool http10 = head_.version_minor == 0;
  record_.response_body_bytes = write_local_reply(
      out_.get(), status, !keep_alive_, http10 && keep_alive_, head_.method == http::Method::kHead);
  state_ = State::kReplying;
  set_timer(nullptr);
  finishing_ = true;
  flush();
}

bool ClientConnection::output_over_high_water() const {
  return evbuffer_get_length(out_.get()) > kHighWater;
}

bool ClientConnection::flush() {
  if (closed_) return false;
  if (evbuffer_get_length(out_.get()) != 0) {
    ssize_t n = write_from(out_.get(), fd_.get());
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      close();
      return false;
    }
  }
  const size_t left = evbuffer_get_length(out_.get());
  if (left != 0) {
    want_write(true);
    // A client that stops reading must not hold the connection forever.
    set_timer(worker_.body_timeout());
    return true;
  }
  want_write(false);
  if (finishing_) {
    finish_request();
  } else if (state_ == State::kExchange) {
    set_timer(nullptr);
  }
  return !closed_;
}

void ClientConnection::handle_write() {
  flush();
  if (!closed_ && state_ == State::kExchange && evbuffer_get_length(out_.get()) < kLowWater) {
    exchange_.resume();
  }
}

void ClientConnection::on_exchange_failed(int status) { reply(status, !keep_alive_); }

void ClientConnection::on_exchange_complete() {
  if (exchange_.client_must_close()) keep_alive_ = false;
  state_ = State::kReplying;
  finishing_ = true;
  flush();
}

void ClientConnection::on_exchange_broken() { close(); }

void ClientConnection::finish_request() {
  finishing_ = false;
  record_.end_ns = monotonic_ns();
  record_finished();
  record_.clear();
  runtime_.reset();
  state_ = State::kIdle;
  if (!keep_alive_ || client_eof_ || worker_.draining()) {
    close();
    return;
  }
  keep_alive_ = true;
  set_timer(worker_.keepalive_timeout());
  want_read(true);
  // Pipelined requests already read wait in in_; process() loops over them
  // itself when the answer completed inside it.
  if (!processing_ && evbuffer_get_length(in_.get()) != 0) process();
}

void ClientConnection::handle_timer() {
  switch (state_) {
    case State::kIdle:
      close();  // keep-alive (or first request) wait is over
      return;
    case State::kHead:
      // A head that never completed: counted as unmatched, like a bad request.
      record_.clear();
      record_.start_ns = monotonic_ns();
      reply(408, true);
      return;
    case State::kBody:
      reply(408, true);  // the route is known; the record already counts it in flight
      return;
    default:
      close();  // the client stopped reading our answer
      return;
  }
}

void ClientConnection::drain() {
  if (state_ == State::kIdle && evbuffer_get_length(in_.get()) == 0) {
    close();
    return;
  }
  keep_alive_ = false;
}

void ClientConnection::record_finished() {
  const std::shared_ptr<WorkerRuntime>& rt = runtime_ ? runtime_ : worker_.runtime();
  const Snapshot& snap = *rt->snapshot;
  if (snap.access_log() == nullptr) {
    worker_.record(snap, record_, nullptr);
    return;
  }
  AccessLogFields fields;
  fields.client = client_ip_;
  fields.path = log_target_;
  fields.version = log_version_;
  fields.referer = log_referer_;
  fields.user_agent = log_user_agent_;
  worker_.record(snap, record_, &fields);
  log_target_.clear();
  log_referer_.clear();
  log_user_agent_.clear();
}

void ClientConnection::close() {
  if (closed_) return;
  if (state_ == State::kExchange || state_ == State::kReplying) {
    exchange_.abort();
    // An answer that never reached the client in full: 499, as nginx logs it,
    // unless the upstream's status was already relayed.
    if (record_.status == 0) record_.status = 499;
    record_.end_ns = monotonic_ns();
    record_finished();
  }
  closed_ = true;
  state_ = State::kClosed;
  event_del(read_ev_.get());
  event_del(write_ev_.get());
  evtimer_del(timer_ev_.get());
  fd_.reset();
  runtime_.reset();
  worker_.retire(this);
}

}  // namespace routemeter
