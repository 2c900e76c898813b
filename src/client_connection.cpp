#include "routemeter/client_connection.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "routemeter/http_rewrite.hpp"
#include "routemeter/net.hpp"
#include "routemeter/reply.hpp"
#include "routemeter/router.hpp"
#include "routemeter/worker.hpp"

namespace routemeter {
namespace {

constexpr size_t kReadSize = kReadChunk;
// The read size while the worker's body budget is spent: heads are still
// read (in several reads if need be), but a head's read brings little body.
constexpr size_t kSmallRead = 4 * 1024 - 256;
// Client output below this resumes upstream reads (paused above kHighWater,
// client_exchange.cpp).
constexpr size_t kLowWater = 64 * 1024;
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

ClientConnection::ClientConnection(Worker& worker, int fd, std::string client_ip,
                                   std::unique_ptr<Transport> transport)
    : worker_(worker),
      fd_(fd),
      transport_(std::move(transport)),
      client_ip_(std::move(client_ip)),
      read_ev_(event_new(worker.base(), fd, EV_READ | EV_PERSIST, &on_read, this)),
      write_ev_(event_new(worker.base(), fd, EV_WRITE | EV_PERSIST, &on_write, this)),
      timer_ev_(evtimer_new(worker.base(), &on_timer, this)),
      closed_ev_(event_new(worker.base(), fd, EV_READ | EV_ET | EV_PERSIST, &on_closed, this)),
      in_(evbuffer_new()),
      out_(evbuffer_new()),
      body_(evbuffer_new()),
      exchange_(*this) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::start() {
  state_ = State::kHandshake;
  const timeval* handshake = worker_.handshake_timeout();
  set_timer(handshake != nullptr ? handshake : worker_.header_timeout());
  step_handshake();
}

// The transport's handshake, one step per readiness (a plain socket is done
// at once), bounded by [tls] handshake_timeout.
void ClientConnection::step_handshake() {
  switch (transport_->handshake()) {
    case HandshakeStatus::kWantRead:
      want_write(false);
      want_read(true);
      return;
    case HandshakeStatus::kWantWrite:
      want_read(false);
      want_write(true);
      return;
    case HandshakeStatus::kFailed:
      count_handshake(TlsHandshakeResult::kFailed);
      close();
      return;
    case HandshakeStatus::kClosed:
      close();  // left before sending anything: not a handshake attempt
      return;
    case HandshakeStatus::kPlainHttp:
      // Plain HTTP on the TLS port: read the request, answer a clear 400.
      count_handshake(TlsHandshakeResult::kFailed);
      plain_on_tls_ = true;
      break;
    case HandshakeStatus::kDone:
      if (transport_->scheme() != "http") count_handshake(TlsHandshakeResult::kOk);
      break;
  }
  state_ = State::kIdle;
  want_write(false);
  want_read(true);
  set_timer(worker_.header_timeout());
  // The request often comes with the client's last handshake flight, read
  // ahead by TLS: no socket event will announce it.
  if (transport_->has_buffered_input()) event_active(read_ev_.get(), EV_READ, 0);
}

void ClientConnection::count_handshake(TlsHandshakeResult result) {
  if (MetricsBinding* m = worker_.runtime()->snapshot->metrics()) m->count_tls_handshake(result);
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

void ClientConnection::on_closed(evutil_socket_t, short, void* arg) {
  static_cast<ClientConnection*>(arg)->handle_closed();
}

void ClientConnection::want_read(bool on) {
  if (on == reading_ || closed_) return;
  reading_ = on;
  if (on) {
    watch_close();
    event_add(read_ev_.get(), nullptr);
    // TLS may hold bytes it read ahead: no socket event would announce them.
    if (transport_->has_buffered_input()) event_active(read_ev_.get(), EV_READ, 0);
  } else {
    event_del(read_ev_.get());
    watch_close();
  }
}

void ClientConnection::want_write(bool on) {
  if (on == writing_ || closed_) return;
  writing_ = on;
  if (on) {
    watch_close();
    event_add(write_ev_.get(), nullptr);
  } else {
    event_del(write_ev_.get());
    watch_close();
  }
}

// With reads paused (back-pressure on a body, pipelining) and nothing to
// write, no event would report a client that resets and never comes back:
// an edge-triggered read event watches for that alone (libevent does not
// mix it with the level-triggered ones, so only while both are off).
void ClientConnection::watch_close() {
  const bool watch = !reading_ && !writing_ && !client_eof_ && !closed_;
  if (watch == watching_close_) return;
  watching_close_ = watch;
  if (watch) {
    event_add(closed_ev_.get(), nullptr);
  } else {
    event_del(closed_ev_.get());
  }
}

void ClientConnection::handle_closed() {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  // Reset: nothing more will arrive or be read. Anything else (new bytes,
  // a half-close) waits until reads resume.
  if (err != 0) close();
}

void ClientConnection::set_timer(const timeval* tv) {
  if (tv == nullptr) {
    evtimer_del(timer_ev_.get());
  } else {
    evtimer_add(timer_ev_.get(), tv);
  }
}

void ClientConnection::handle_read() {
  if (state_ == State::kHandshake) {
    step_handshake();
    return;
  }
  if (write_waits_read_) {
    write_waits_read_ = false;
    if (!flush()) return;
  }
  const size_t max = worker_.body_budget_left() ? kReadSize : kSmallRead;
  const ssize_t n = transport_->read_into(in_.get(), max);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      close();  // reset by the client, or a TLS error
      return;
    }
    if (transport_->want() == IoWait::kWrite) {
      read_waits_write_ = true;  // TLS: the read goes on once the socket is writable
      want_write(true);
    }
    return;
  }
  if (n == 0) {
    client_eof_ = true;
    want_read(false);
    // A half-closed client may still wait for the answer to what it sent;
    // with nothing, part of a head, or only the dropped rest of a body
    // pending there is nothing to answer.
    const bool nothing_pending = state_ == State::kIdle && evbuffer_get_length(in_.get()) == 0;
    if (nothing_pending || state_ == State::kHead || state_ == State::kDiscard ||
        state_ == State::kTunnel) {
      close();  // a tunnel ends when either side closes
      return;
    }
  }
  process();
  if (!closed_ && reading_ && transport_->has_buffered_input()) {
    event_active(read_ev_.get(), EV_READ, 0);
  }
}

void ClientConnection::process() {
  if (state_ == State::kTunnel) {
    pump_tunnel();
    update_reading();
    return;
  }
  processing_ = true;
  while (!closed_) {
    if (state_ == State::kIdle || state_ == State::kHead) {
      if (!parse_head()) break;
    }
    if (!body_relay_.done()) pump_body();
    // A proxy-made reply may have completed synchronously and left the
    // connection idle again: go on with pipelined requests, if any.
    if (state_ != State::kIdle || evbuffer_get_length(in_.get()) == 0) break;
  }
  processing_ = false;
  update_reading();
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
  const http::ParseResult res = http::parse_request_head(data, look, limits, head_);
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
  record_.method = head_.method;
  runtime_ = worker_.runtime();
  http10_ = head_.version_minor == 0;
  head_request_ = head_.method == http::Method::kHead;
  forwarded_ = false;
  response_started_ = false;
  continue_sent_ = false;
  body_relay_.start(BodyRelay::Framing::kNone, 0);
  if (res.status == http::ParseStatus::kError) {
    reply(res.error_status, true);
    return false;
  }
  if (plain_on_tls_) {
    reply(400, true, "plain HTTP request sent to the HTTPS port");
    return false;
  }
  if (AccessLogSink* sink = runtime_->snapshot->access_log()) {
    // The head's bytes go away before the line is written: keep what it needs.
    log_target_.assign(head_.target);
    log_version_ = http10_ ? "HTTP/1.0" : "HTTP/1.1";
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
  record_.path.assign(path);
  record_.trace_id = find_trace_id(head_.headers);
  worker_.begin(*runtime_->snapshot, record_);

  const http::Framing& framing = head_.framing;
  const uint64_t max_body = sc.max_body_bytes;
  const uint64_t length = framing.has_content_length ? framing.content_length : 0;
  if (!framing.chunked && length > max_body) {
    reply(413, true);
    return false;
  }
  body_relay_.start(framing.chunked ? BodyRelay::Framing::kChunked
                    : length != 0   ? BodyRelay::Framing::kLength
                                    : BodyRelay::Framing::kNone,
                    length, false, max_body);
  Exchange::Request req;
  // A WebSocket (any Upgrade) without a body; one with a body is forwarded
  // as an ordinary request.
  const bool upgrade = asks_upgrade(head_) && body_relay_.done();
  if (match.route != nullptr) {
    req.upstream = match.route->upstream_index;
    req.method = head_.method;
    req.client_http10 = http10_;
    req.idempotent = is_idempotent(head_.method) && !upgrade;
    req.add_host = head_.host.empty();
    req.upgrade = upgrade;
    render_upstream_request(head_, match.forward_path,
                            ForwardInfo{client_ip_, transport_->scheme(), upgrade}, scratch_);
  }
  const bool expect = framing.expect_continue && !http10_;
  evbuffer_drain(in_.get(), res.head_bytes);  // head_'s views end here
  if (expect && !body_relay_.done() && evbuffer_get_length(in_.get()) == 0) {
    evbuffer_add(out_.get(), kContinue, sizeof kContinue - 1);
    continue_sent_ = true;
    if (!flush()) return false;
  }
  if (match.route == nullptr) {
    reply(404, !keep_alive_);  // a body that follows is read and dropped
    return !closed_;
  }
  // The body bytes already here go out with the head, in one write.
  switch (body_relay_.relay(in_.get(), body_.get(), Exchange::kBodyWindow)) {
    case BodyRelay::Status::kBadFraming:
      reply(400, true);
      return false;
    case BodyRelay::Status::kTooLarge:
      reply(413, true);
      return false;
    default:
      break;
  }
  req.body_follows = !body_relay_.done();
  state_ = State::kExchange;
  forwarded_ = true;
  set_timer(nullptr);
  exchange_.start(runtime_, req, scratch_, body_.get());
  return !closed_;
}

void ClientConnection::reply(int status, bool close_after, std::string_view detail) {
  if (close_after) keep_alive_ = false;
  record_.status = status;
  if (record_.start_ns == 0) record_.start_ns = monotonic_ns();
  record_.response_body_bytes = write_local_reply(out_.get(), status, !keep_alive_,
                                                  http10_ && keep_alive_, head_request_, detail);
  state_ = State::kReplying;
  set_timer(nullptr);
  finishing_ = true;
  flush();
}

bool ClientConnection::flush() {
  if (closed_) return false;
  if (evbuffer_get_length(out_.get()) != 0) {
    const ssize_t n = transport_->write_from(out_.get());
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        close();
        return false;
      }
      if (transport_->want() == IoWait::kRead) {
        write_waits_read_ = true;  // TLS: the write goes on once the socket is readable
        want_read(true);
      }
    }
  }
  if (evbuffer_get_length(out_.get()) != 0) {
    // TLS: a write that waits for readability must not spin on writability.
    if (!write_waits_read_) want_write(true);
    // A client that stops reading must not hold the connection forever. (In
    // a tunnel, back-pressure stops the upstream's side and its
    // tunnel_idle_timeout runs instead.)
    if (state_ != State::kTunnel) set_timer(worker_.body_timeout());
    return true;
  }
  if (!read_waits_write_) want_write(false);  // TLS: a read may still wait for it
  if (finishing_) {
    finish_request();
  } else if (state_ == State::kTunnel && tunnel_ending_) {
    close();  // the upstream closed and everything it sent is written
  } else if ((state_ == State::kExchange && body_relay_.done()) || state_ == State::kTunnel) {
    set_timer(nullptr);  // the exchange's own timers run
  }
  return !closed_;
}

void ClientConnection::handle_write() {
  if (state_ == State::kHandshake) {
    step_handshake();
    return;
  }
  if (read_waits_write_) {
    read_waits_write_ = false;
    handle_read();
    if (closed_) return;
  }
  flush();
  const bool relaying = state_ == State::kExchange || state_ == State::kTunnel;
  if (!closed_ && relaying && evbuffer_get_length(out_.get()) < kLowWater) exchange_.resume();
}

void ClientConnection::finish_request() {
  finishing_ = false;
  record_.end_ns = monotonic_ns();
  record_finished();
  record_.clear();
  runtime_.reset();
  account_body();  // what the exchange held of the body went with it
  if (!keep_alive_ || client_eof_ || worker_.draining()) {
    state_ = State::kIdle;
    close();
    return;
  }
  if (!body_relay_.done()) {
    // Answered before the whole body arrived (an early or proxy-made
    // answer): read and drop the rest, then the connection is free again.
    state_ = State::kDiscard;
    update_reading();
    if (!processing_) process();
    return;
  }
  state_ = State::kIdle;
  set_timer(worker_.keepalive_timeout());
  want_read(true);
  // Pipelined requests already read wait in in_; process() loops over them
  // itself when the answer completed inside it.
  if (!processing_ && evbuffer_get_length(in_.get()) != 0) process();
}

void ClientConnection::handle_timer() {
  switch (state_) {
    case State::kHandshake:
      count_handshake(TlsHandshakeResult::kFailed);  // handshake_timeout
      close();
      return;
    case State::kIdle:
    case State::kDiscard:
      close();  // keep-alive wait over, or the dropped body stalled
      return;
    case State::kHead:
      // A head that never completed: counted as unmatched, like a bad request.
      record_.clear();
      record_.start_ns = monotonic_ns();
      reply(408, true);
      return;
    default:
      if (evbuffer_get_length(out_.get()) == 0 && !body_relay_.done()) {
        body_failed(408);  // the client stopped sending its body
      } else {
        close();  // the client stopped reading our answer
      }
      return;
  }
}

void ClientConnection::drain() {
  const bool idle = state_ == State::kIdle && evbuffer_get_length(in_.get()) == 0;
  if (idle || state_ == State::kHandshake) {
    close();
    return;
  }
  keep_alive_ = false;
}

void ClientConnection::record_finished() {
  if (forwarded_) {
    const Exchange::Outcome& o = exchange_.outcome();
    record_.server = o.server;
    record_.upstream_times = o.times;
    record_.retried = o.retried;
    if (record_.error == UpstreamError::kNone) record_.error = o.error;
    if (response_started_) record_.response_body_bytes = o.response_body_bytes;
  }
  record_.request_body_bytes = body_relay_.payload_bytes();
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
  // Also a request counted in flight that closed before it was forwarded
  // (e.g. the proxy's own 100 Continue could not be written).
  if (state_ == State::kExchange || state_ == State::kReplying || record_.in_flight) {
    exchange_.abort();
    // An answer that never reached the client in full: 499, as nginx logs it,
    // unless the upstream's status was already relayed.
    if (record_.status == 0) record_.status = 499;
    record_.end_ns = monotonic_ns();
    record_finished();
  }
  if (state_ == State::kTunnel) {
    exchange_.abort();
    worker_.tunnel_closed(*tunnel_runtime_->snapshot, tunnel_record_);
    tunnel_runtime_.reset();
  }
  closed_ = true;
  state_ = State::kClosed;
  event_del(read_ev_.get());
  event_del(write_ev_.get());
  evtimer_del(timer_ev_.get());
  if (watching_close_) event_del(closed_ev_.get());
  transport_->shutdown();
  fd_.reset();
  runtime_.reset();
  if (body_held_ != 0) {
    worker_.add_body_bytes(-static_cast<int64_t>(body_held_));
    body_held_ = 0;
  }
  worker_.forget_body_waiter(this);
  worker_.retire(this);
}

}  // namespace routemeter
