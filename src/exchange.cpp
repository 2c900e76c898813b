#include "routemeter/exchange.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "routemeter/net.hpp"
#include "routemeter/worker.hpp"

namespace routemeter {
namespace {

constexpr size_t kReadSize = kReadChunk;
constexpr size_t kMaxResponseHead = 64 * 1024;

void drain_all(evbuffer* buf) { evbuffer_drain(buf, evbuffer_get_length(buf)); }

// Appends a copy of `from` to `to`; `from` stays as it is.
void append_copy(evbuffer* to, evbuffer* from) {
  constexpr int kChunks = 8;
  evbuffer_iovec chunks[kChunks];
  const int n = evbuffer_peek(from, -1, nullptr, chunks, kChunks);
  if (n > kChunks) {
    const size_t len = evbuffer_get_length(from);
    evbuffer_add(to, evbuffer_pullup(from, -1), len);
    return;
  }
  for (int i = 0; i < n; ++i) evbuffer_add(to, chunks[i].iov_base, chunks[i].iov_len);
}

// The request leaves its upstream's retry budget (once): at the end of the
// exchange, or when it becomes a tunnel, which may stay open for hours and
// must not count as a request in flight.
void leave_budget(UpstreamPool& pool, bool& counted, uint8_t retries) {
  if (!counted) return;
  pool.retry_budget().request_finished(retries);
  counted = false;
}

// The retry_on reason a failed attempt's fault stands for, if any.
std::optional<RetryReason> retry_reason_for_error(UpstreamError error) {
  switch (error) {
    case UpstreamError::kConnectRefused:
    case UpstreamError::kConnectTimeout:
      return RetryReason::kConnectFailure;
    case UpstreamError::kReset:
      return RetryReason::kReset;
    case UpstreamError::kResponseTimeout:
      return RetryReason::kResponseTimeout;
    default:
      return std::nullopt;
  }
}

}  // namespace

Exchange::~Exchange() { abort(); }

void Exchange::start(std::shared_ptr<WorkerRuntime> runtime, const Request& req, std::string& head,
                     evbuffer* body) {
  runtime_ = std::move(runtime);
  req_ = req;
  pool_ = runtime_->pools[req.upstream].get();
  head_.swap(head);
  if (!pending_) pending_.reset(evbuffer_new());
  if (!staging_) staging_.reset(evbuffer_new());
  if (!replay_) replay_.reset(evbuffer_new());
  outcome_ = Outcome();
  stale_retried_ = false;
  interim_relayed_ = false;
  retries_ = 0;
  tried_.clear();
  copying_ = req.idempotent;
  copy_complete_ = true;
  if (evbuffer_get_length(body) != 0) {
    keep_copy(body);
    evbuffer_add_buffer(pending_.get(), body);
  }
  paused_ = false;
  body_ended_ = !req.body_follows;
  pool_->retry_budget().request_started();
  budget_counted_ = true;
  connect_and_send();
}

void Exchange::connect_and_send() {
  const uint64_t now = monotonic_ns();
  const size_t server = pool_->pick_server(now, tried_.empty() ? nullptr : tried_.data());
  if (server == UpstreamPool::kNoServer) {
    state_ = State::kConnecting;
    fail(UpstreamError::kNoHealthyServer);
    return;
  }
  outcome_.server = static_cast<int64_t>(server);
  conn_ = pool_->lease(server, stale_retried_, &reused_);
  if (!conn_) {
    state_ = State::kConnecting;
    pool_->upstream().report_failure(server, monotonic_ns());
    fail(UpstreamError::kConnectRefused);
    return;
  }
  conn_->set_user(this);
  conn_->want_read(true);
  outcome_.times = UpstreamTimes();
  if (conn_->connected()) {
    send_request();
    return;
  }
  outcome_.times.connect_start_ns = now;
  state_ = State::kConnecting;
  conn_->want_write(true);
  arm_timer();
}

// The exchange's one timer, re-armed as it moves from phase to phase (and
// within a phase on progress): connect_timeout bounds the connect only;
// response_timeout bounds the upstream not taking request bytes we hold
// (restarted by every write that moves bytes, so a slow but moving upload
// never trips it), then the wait for the response head, then each wait for
// response body bytes. While everything we hold is written and more request
// body is due from the client, no upstream timer runs: the client's
// client_body_timeout does.
void Exchange::arm_timer() {
  if (state_ == State::kTunnel) {
    conn_->set_timeout(runtime_->tunnel_idle_timeout);  // restarted by bytes either way
  } else if (state_ == State::kConnecting) {
    conn_->set_timeout(runtime_->connect_timeouts[req_.upstream]);
  } else if (state_ == State::kSending && evbuffer_get_length(conn_->out()) == 0) {
    conn_->set_timeout(nullptr);
  } else {
    conn_->set_timeout(runtime_->response_timeouts[req_.upstream]);
  }
}

void Exchange::send_request() {
  state_ = State::kSending;
  evbuffer* out = conn_->out();
  if (req_.add_host) {
    // An HTTP/1.0 request without Host goes on as HTTP/1.1, which must have
    // one: the server's own address, after the request line.
    const size_t line_end = head_.find("\r\n") + 2;
    const std::string& server = pool_->upstream().server_names[conn_->server()];
    evbuffer_add(out, head_.data(), line_end);
    evbuffer_add_printf(out, "Host: %s\r\n", server.c_str());
    evbuffer_add(out, head_.data() + line_end, head_.size() - line_end);
  } else {
    evbuffer_add(out, head_.data(), head_.size());
  }
  if (evbuffer_get_length(pending_.get()) != 0) evbuffer_add_buffer(out, pending_.get());
  arm_timer();
  write_request();
}

// Writes what the exchange holds of the request; moves on to waiting for
// the response head once the whole request is out.
void Exchange::write_request() {
  evbuffer* out = conn_->out();
  const ssize_t n = write_from(out, conn_->fd());
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    upstream_failed(errno);
    return;
  }
  if (evbuffer_get_length(out) != 0) {
    if (n > 0) arm_timer();
    conn_->want_write(true);
    return;
  }
  conn_->want_write(false);
  if (body_ended_) {
    state_ = State::kAwaitHead;
    outcome_.times.sent_ns = monotonic_ns();
  }
  arm_timer();
}

size_t Exchange::body_room() const {
  const size_t held = body_held();
  return held >= kBodyWindow ? 0 : kBodyWindow - held;
}

size_t Exchange::body_held() const {
  switch (state_) {
    case State::kConnecting:
      return evbuffer_get_length(pending_.get());
    case State::kSending:
    case State::kTunnel:
      return evbuffer_get_length(conn_->out());
    default:
      return 0;
  }
}

void Exchange::send_body(evbuffer* body) {
  switch (state_) {
    case State::kConnecting:
      keep_copy(body);
      evbuffer_add_buffer(pending_.get(), body);
      return;
    case State::kSending: {
      keep_copy(body);
      const bool was_idle = evbuffer_get_length(conn_->out()) == 0;
      evbuffer_add_buffer(conn_->out(), body);
      if (was_idle) arm_timer();  // the upstream must take these within response_timeout
      write_request();
      return;
    }
    case State::kTunnel:
      evbuffer_add_buffer(conn_->out(), body);
      arm_timer();
      write_tunnel();
      return;
    default:
      // Idle, or an early final answer dropped the rest of the request.
      drain_all(body);
      return;
  }
}

void Exchange::end_body() {
  body_ended_ = true;
  if (state_ == State::kSending && evbuffer_get_length(conn_->out()) == 0) {
    state_ = State::kAwaitHead;
    outcome_.times.sent_ns = monotonic_ns();
    arm_timer();
  }
}

void Exchange::on_upstream_writable() {
  const size_t held = body_held();
  if (state_ == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(conn_->fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      upstream_failed(err);
      return;
    }
    conn_->set_connected();
    outcome_.times.connected_ns = monotonic_ns();
    send_request();
  } else if (state_ == State::kSending) {
    write_request();
  } else if (state_ == State::kTunnel) {
    write_tunnel();
  } else {
    conn_->want_write(false);
    return;
  }
  // Request bytes went out: the client may send more, and counts less.
  const bool sending =
      state_ == State::kSending || state_ == State::kAwaitHead || state_ == State::kTunnel;
  if (sending && body_held() < held) {
    client_.on_request_body_room();
  }
}

void Exchange::upstream_failed(int err) {
  // Nothing of the response arrived. A reused keep-alive connection may have
  // been closed by the server just as we sent: retry once on a fresh one.
  const bool nothing_received = state_ != State::kBody && evbuffer_get_length(conn_->in()) == 0;
  if (nothing_received && reused_ &&
      retry(RetryReason::kStaleConnection, UpstreamError::kNone, 0)) {
    return;
  }
  if (state_ == State::kBody) {
    broken(UpstreamError::kReset);
    return;
  }
  if (state_ == State::kConnecting) {
    pool_->upstream().report_failure(conn_->server(), monotonic_ns());
    fail(err == ETIMEDOUT ? UpstreamError::kConnectTimeout : UpstreamError::kConnectRefused);
    return;
  }
  fail(nothing_received ? UpstreamError::kReset : UpstreamError::kBadResponse);
}

void Exchange::on_upstream_timeout() {
  switch (state_) {
    case State::kConnecting:
      pool_->upstream().report_failure(conn_->server(), monotonic_ns());
      fail(UpstreamError::kConnectTimeout);
      return;
    case State::kSending:
    case State::kAwaitHead:
      fail(UpstreamError::kResponseTimeout);
      return;
    case State::kBody:
      broken(UpstreamError::kResponseTimeout);
      return;
    case State::kTunnel:
      end_tunnel();  // tunnel_idle_timeout: nothing went either way
      return;
    case State::kIdle:
      return;
  }
}

void Exchange::on_upstream_readable() {
  if (state_ == State::kConnecting) {
    // Readable before writable: the connect failed (or the server spoke first).
    on_upstream_writable();
    if (state_ == State::kConnecting || state_ == State::kIdle) return;
  }
  const ssize_t n = read_into(conn_->in(), conn_->fd(), kReadSize);
  if (state_ == State::kTunnel) {
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      end_tunnel();  // the upstream closed its side: so does the tunnel
      return;
    }
    arm_timer();
    relay_tunnel();
    return;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    upstream_failed(errno);
    return;
  }
  if (n == 0) {
    if (state_ == State::kBody) {
      relay_body(true);  // what arrived before the close still goes out
    } else {
      upstream_failed(0);
    }
    return;
  }
  if (state_ == State::kSending || state_ == State::kAwaitHead) {
    parse_head();
  } else if (state_ == State::kBody) {
    arm_timer();
    relay_body(false);
  }
}

void Exchange::parse_head() {
  evbuffer* in = conn_->in();
  for (;;) {
    const size_t len = evbuffer_get_length(in);
    if (len == 0) return;
    const size_t look = std::min(len, kMaxResponseHead);
    const char* data =
        reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(look)));
    const http::ParseResult res =
        http::parse_response_head(data, look, kMaxResponseHead, response_);
    if (res.status == http::ParseStatus::kIncomplete) {
      if (look >= kMaxResponseHead) fail(UpstreamError::kBadResponse);
      return;
    }
    if (res.status == http::ParseStatus::kError || (response_.status == 101 && !req_.upgrade)) {
      fail(UpstreamError::kBadResponse);  // a 101 nobody asked for
      return;
    }
    if (response_.status < 200 && response_.status != 101) {
      // Interim (100 Continue, 103 Early Hints...), possibly while the body
      // is still being sent: relayed to an HTTP/1.1 client (RFC 9110 15.2);
      // the upload and the phase's timer go on.
      if (!req_.client_http10) {
        interim_relayed_ = true;                 // part of the answer: no retry from here on
        client_.on_interim_response(response_);  // reads views into `in`: drain after
        if (state_ == State::kIdle) return;      // the client went away
      }
      evbuffer_drain(in, res.head_bytes);
      continue;
    }
    pool_->upstream().report_answer(conn_->server(), response_.status);
    if (response_.status >= 502 && response_.status <= 504) {
      // Dropped with its connection if retry_on lists it (the body unread).
      if (retry(*retry_reason_for_status(response_.status), UpstreamError::kNone,
                response_.status)) {
        return;
      }
    }
    // The answer is this one: no retry from here on, the copy can go.
    copy_complete_ = false;
    if (evbuffer_get_length(replay_.get()) != 0) {
      drain_all(replay_.get());
      client_.on_body_held_changed();  // no longer held: room for other uploads
    }
    const ResponsePlan plan =
        plan_response(req_.method, req_.client_http10, response_, req_.upgrade);
    if (plan.tunnel) {
      // Switched: from here on the connection carries the new protocol's
      // bytes both ways; it is never reused.
      outcome_.status = response_.status;
      upstream_reusable_ = false;
      state_ = State::kTunnel;
      leave_budget(*pool_, budget_counted_, retries_);
      client_.on_response_head(response_, plan);  // reads views into `in`: drain after
      if (state_ != State::kTunnel) return;       // the client went away
      evbuffer_drain(in, res.head_bytes);
      arm_timer();
      if (evbuffer_get_length(in) != 0) relay_tunnel();
      return;
    }
    upstream_reusable_ = plan.upstream_reusable;
    if (state_ == State::kSending) {
      // The final answer came before the server took the whole request (an
      // early error): stop sending, drop the rest of the request body; the
      // connection can't carry another request.
      conn_->want_write(false);
      drain_all(conn_->out());
      upstream_reusable_ = false;
    }
    outcome_.status = response_.status;
    outcome_.times.head_ns = monotonic_ns();
    relay_.start(plan.framing, response_.framing.content_length, plan.dechunk);
    state_ = State::kBody;
    client_.on_response_head(response_, plan);  // reads views into `in`: drain after
    evbuffer_drain(in, res.head_bytes);
    arm_timer();
    relay_body(false);
    return;
  }
}

void Exchange::relay_body(bool eof) {
  BodyRelay::Status status = relay_.relay(conn_->in(), staging_.get());
  if (eof) status = relay_.finish_at_eof();
  outcome_.response_body_bytes = relay_.payload_bytes();
  if (evbuffer_get_length(staging_.get()) != 0) {
    // What arrived before a framing error or a close still goes out.
    const ExchangeClient::Accept accept = client_.on_response_body(staging_.get());
    if (accept == ExchangeClient::Accept::kClosed || state_ != State::kBody) return;
    if (accept == ExchangeClient::Accept::kPause && status == BodyRelay::Status::kMore) {
      // Back-pressure: a slow client slows the upstream read.
      paused_ = true;
      conn_->want_read(false);
    }
  }
  if (status == BodyRelay::Status::kDone) {
    finish();
  } else if (status != BodyRelay::Status::kMore) {
    broken(UpstreamError::kBadResponse);
  } else if (eof) {
    broken(UpstreamError::kReset);  // the body was cut short
  }
}

void Exchange::resume() {
  if (!paused_ || (state_ != State::kBody && state_ != State::kTunnel)) return;
  paused_ = false;
  conn_->want_read(true);
  if (evbuffer_get_length(conn_->in()) == 0) return;
  if (state_ == State::kTunnel) {
    relay_tunnel();
  } else {
    relay_body(false);
  }
}

// Upstream bytes in a tunnel go to the client as they are, with the same
// back-pressure as a response body.
void Exchange::relay_tunnel() {
  evbuffer_add_buffer(staging_.get(), conn_->in());
  const ExchangeClient::Accept accept = client_.on_response_body(staging_.get());
  if (accept == ExchangeClient::Accept::kPause && state_ == State::kTunnel) {
    paused_ = true;
    conn_->want_read(false);
  }
}

void Exchange::write_tunnel() {
  const ssize_t n = write_from(conn_->out(), conn_->fd());
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    end_tunnel();
    return;
  }
  conn_->want_write(evbuffer_get_length(conn_->out()) != 0);
}

void Exchange::end_tunnel() {
  release_connection(false);
  stop();
  client_.on_exchange_broken();  // the client side closes too
}

void Exchange::finish() {
  release_connection(upstream_reusable_);
  stop();
  client_.on_response_complete();
}

void Exchange::keep_copy(evbuffer* body) {
  if (!copy_complete_) return;
  const size_t len = evbuffer_get_length(body);
  if (!copying_ || evbuffer_get_length(replay_.get()) + len > kBodyWindow) {
    // Once part of this body is sent, only a connect failure can be retried.
    copy_complete_ = false;
    drain_all(replay_.get());
    return;
  }
  append_copy(replay_.get(), body);
}

bool Exchange::retry(RetryReason reason, UpstreamError error, int status) {
  const UpstreamConfig& config = *pool_->upstream().config;
  if (interim_relayed_ || !retry_permitted(reason, req_.idempotent, config.retry_on)) return false;
  // The new attempt needs the whole request body: still unsent (the connect
  // failed), or copied.
  const bool resend = state_ != State::kConnecting;
  if (resend && !copy_complete_) return false;
  const auto server = static_cast<size_t>(outcome_.server);
  if (reason == RetryReason::kStaleConnection) {
    // Not the server's fault, nor a new try of it: outside retries and budget.
    if (stale_retried_) return false;
    stale_retried_ = true;
  } else {
    if (retries_ >= config.retries || !pool_->retry_budget().try_acquire()) return false;
    ++retries_;
    if (tried_.empty()) tried_.assign(pool_->upstream().servers.size(), 0);
    tried_[server] = 1;
  }
  RetriedAttempts& retried = outcome_.retried;
  if (retried.count < kMaxRetriedAttempts) {
    retried.at[retried.count++] = {static_cast<int32_t>(server), static_cast<uint16_t>(status),
                                   error, reason};
  }
  release_connection(false);
  if (resend) {
    drain_all(pending_.get());
    append_copy(pending_.get(), replay_.get());
    state_ = State::kConnecting;     // pending_ holds the body again: the process-wide
    client_.on_body_held_changed();  // bound counts it (the exchange is not called back)
  }
  connect_and_send();
  return true;
}

void Exchange::fail(UpstreamError error) {
  if (const std::optional<RetryReason> reason = retry_reason_for_error(error)) {
    if (retry(*reason, error, upstream_error_status(error))) return;
  }
  outcome_.error = error;
  outcome_.status = 0;
  release_connection(false);
  stop();
  client_.on_exchange_failed(upstream_error_status(error));
}

void Exchange::broken(UpstreamError error) {
  outcome_.error = error;
  release_connection(false);
  stop();
  client_.on_exchange_broken();
}

void Exchange::abort() {
  if (state_ == State::kIdle && !conn_) return;
  release_connection(false);
  stop();
}

void Exchange::stop() {
  leave_budget(*pool_, budget_counted_, retries_);
  if (pending_) drain_all(pending_.get());
  if (staging_) drain_all(staging_.get());
  if (replay_ && evbuffer_get_length(replay_.get()) != 0) drain_all(replay_.get());
  state_ = State::kIdle;
  paused_ = false;
  runtime_.reset();
}

void Exchange::release_connection(bool reusable) {
  if (!conn_) return;
  pool_->release(std::move(conn_), reusable);
}

}  // namespace routemeter
