#include "routemeter/exchange.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "routemeter/client_connection.hpp"
#include "routemeter/net.hpp"
#include "routemeter/reply.hpp"
#include "routemeter/worker.hpp"

namespace routemeter {
namespace {

constexpr size_t kReadSize = 64 * 1024;
constexpr size_t kMaxResponseHead = 64 * 1024;

}  // namespace

Exchange::~Exchange() { abort(); }

void Exchange::start(std::shared_ptr<WorkerRuntime> runtime, const Request& req, std::string& head,
                     evbuffer* body) {
  runtime_ = std::move(runtime);
  req_ = req;
  pool_ = runtime_->pools[req.upstream].get();
  head_.swap(head);
  if (!body_) body_.reset(evbuffer_new());
  if (evbuffer_get_length(body) != 0) evbuffer_add_buffer(body_.get(), body);
  retried_ = false;
  paused_ = false;
  dechunk_ = false;
  client_must_close_ = false;
  connect_and_send();
}

void Exchange::connect_and_send() {
  const size_t server = pool_->pick_server(monotonic_ns());
  if (server == UpstreamPool::kNoServer) {
    state_ = State::kConnecting;
    fail(502, UpstreamError::kNoHealthyServer);
    return;
  }
  client_.record().server = static_cast<int64_t>(server);
  conn_ = pool_->lease(server, retried_, &reused_);
  if (!conn_) {
    state_ = State::kConnecting;
    pool_->upstream().report_failure(server, monotonic_ns());
    fail(502, UpstreamError::kConnectRefused);
    return;
  }
  conn_->set_user(this);
  conn_->want_read(true);
  if (conn_->connected()) {
    send_request();
    return;
  }
  state_ = State::kConnecting;
  conn_->want_write(true);
  arm_timer();
}

// The exchange's one timer, re-armed as it moves from phase to phase (and
// within a phase on progress): connect_timeout bounds the connect only;
// response_timeout bounds the upstream not taking the request (restarted by
// every write that moves bytes, so a slow but moving upload never trips it),
// then the wait for the response head, then each wait for body bytes.
void Exchange::arm_timer() {
  conn_->set_timeout(state_ == State::kConnecting ? runtime_->connect_timeouts[req_.upstream]
                                                  : runtime_->response_timeouts[req_.upstream]);
}

void Exchange::send_request() {
  state_ = State::kSending;
  arm_timer();
  evbuffer* out = conn_->out();
  evbuffer_add(out, head_.data(), head_.size());
  if (evbuffer_get_length(body_.get()) != 0) evbuffer_add_buffer(out, body_.get());
  on_upstream_writable();
}

void Exchange::on_upstream_writable() {
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
    send_request();
    return;
  }
  if (state_ != State::kSending) {
    conn_->want_write(false);
    return;
  }
  ssize_t n = write_from(conn_->out(), conn_->fd());
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    upstream_failed(errno);
    return;
  }
  if (evbuffer_get_length(conn_->out()) != 0) {
    if (n > 0) arm_timer();
    conn_->want_write(true);
    return;
  }
  conn_->want_write(false);
  state_ = State::kAwaitHead;
  arm_timer();
}

void Exchange::upstream_failed(int err) {
  // Nothing of the response arrived. A reused keep-alive connection may have
  // been closed by the server just as we sent: retry once on a fresh one.
  const bool nothing_received = state_ != State::kBody && evbuffer_get_length(conn_->in()) == 0;
  if (nothing_received && reused_ && !retried_ && req_.retryable) {
    release_connection(false);
    retried_ = true;
    connect_and_send();
    return;
  }
  if (state_ == State::kBody) {
    broken(UpstreamError::kReset);
    return;
  }
  if (state_ == State::kConnecting) {
    pool_->upstream().report_failure(conn_->server(), monotonic_ns());
    fail(err == ETIMEDOUT ? 504 : 502,
         err == ETIMEDOUT ? UpstreamError::kConnectTimeout : UpstreamError::kConnectRefused);
    return;
  }
  fail(502, nothing_received ? UpstreamError::kReset : UpstreamError::kBadResponse);
}

void Exchange::on_upstream_timeout() {
  switch (state_) {
    case State::kConnecting:
      pool_->upstream().report_failure(conn_->server(), monotonic_ns());
      fail(504, UpstreamError::kConnectTimeout);
      return;
    case State::kSending:
    case State::kAwaitHead:
      fail(504, UpstreamError::kResponseTimeout);
      return;
    case State::kBody:
      broken(UpstreamError::kResponseTimeout);
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
  ssize_t n = read_into(conn_->in(), conn_->fd(), kReadSize);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    upstream_failed(errno);
    return;
  }
  if (n == 0) {
    if (state_ == State::kBody && body_mode_ == BodyMode::kUntilClose) {
      upstream_keep_alive_ = false;
      relay_body();
      if (state_ == State::kBody) finish();
      return;
    }
    if (state_ == State::kBody) {
      relay_body();  // what arrived before the close still goes out
      if (state_ == State::kBody) broken(UpstreamError::kReset);
      return;
    }
    upstream_failed(0);
    return;
  }
  if (state_ == State::kSending || state_ == State::kAwaitHead) {
    parse_head();
  } else if (state_ == State::kBody) {
    arm_timer();
    relay_body();
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
    http::ParseResult res = http::parse_response_head(data, look, kMaxResponseHead, response_);
    if (res.status == http::ParseStatus::kIncomplete) {
      if (look >= kMaxResponseHead) fail(502, UpstreamError::kBadResponse);
      return;
    }
    if (res.status == http::ParseStatus::kError || response_.status == 101) {
      fail(502, UpstreamError::kBadResponse);
      return;
    }
    if (response_.status < 200) {
      // Interim (100 Continue, 103 Early Hints...), possibly while the body
      // is still being sent: skipped, the upload and the phase's timer go on.
      evbuffer_drain(in, res.head_bytes);
      continue;
    }
    pool_->upstream().report_success(conn_->server());
    const http::Framing& f = response_.framing;
    upstream_keep_alive_ =
        response_.version_minor >= 1 ? !f.connection_close : f.connection_keep_alive;
    if (state_ == State::kSending) {
      // The final answer came before the server took the whole request (an
      // early error): stop sending; the connection can't carry another one.
      conn_->want_write(false);
      upstream_keep_alive_ = false;
    }
    if (http::response_has_no_body(req_.method, response_.status)) {
      body_mode_ = BodyMode::kNone;
    } else if (f.chunked) {
      body_mode_ = BodyMode::kChunked;
      chunked_.reset();
      dechunk_ = req_.client_http10;  // a 1.0 client can't read chunked
    } else if (f.has_content_length) {
      body_mode_ = BodyMode::kLength;
      body_remaining_ = f.content_length;
    } else {
      body_mode_ = BodyMode::kUntilClose;
      upstream_keep_alive_ = false;
    }
    client_must_close_ = body_mode_ == BodyMode::kUntilClose || dechunk_;
    client_.record().status = response_.status;
    render_response_head();
    evbuffer_add(client_.out(), scratch_.data(), scratch_.size());
    evbuffer_drain(in, res.head_bytes);
    state_ = State::kBody;
    arm_timer();
    relay_body();
    return;
  }
}

void Exchange::render_response_head() {
  const http::ResponseHead& r = response_;
  std::string& h = scratch_;
  h.assign("HTTP/1.1 ");
  h += std::to_string(r.status);
  h += ' ';
  if (r.reason.empty()) {
    h.append(reason_phrase(r.status));
  } else {
    h.append(r.reason);
  }
  h += "\r\n";
  const http::HopByHop hop(r.headers);
  for (const http::Header& f : r.headers) {
    if (hop.contains(f.name) || http::iequals(f.name, "content-length")) continue;
    h.append(f.name);
    h += ": ";
    h.append(f.value);
    h += "\r\n";
  }
  if (r.framing.has_content_length &&
      (body_mode_ == BodyMode::kLength || body_mode_ == BodyMode::kNone)) {
    h += "Content-Length: ";
    h += std::to_string(r.framing.content_length);
    h += "\r\n";
  }
  if (body_mode_ == BodyMode::kChunked && !dechunk_) h += "Transfer-Encoding: chunked\r\n";
  if (client_must_close_ || !client_.keep_alive()) {
    h += "Connection: close\r\n";
  } else if (req_.client_http10) {
    h += "Connection: keep-alive\r\n";
  }
  h += "\r\n";
}

void Exchange::relay_body() {
  evbuffer* in = conn_->in();
  evbuffer* out = client_.out();
  RequestRecord& rec = client_.record();
  bool done = false;
  switch (body_mode_) {
    case BodyMode::kNone:
      done = true;
      break;
    case BodyMode::kLength: {
      size_t take =
          static_cast<size_t>(std::min<uint64_t>(evbuffer_get_length(in), body_remaining_));
      if (take != 0) evbuffer_remove_buffer(in, out, take);
      body_remaining_ -= take;
      rec.response_body_bytes += take;
      done = body_remaining_ == 0;
      break;
    }
    case BodyMode::kChunked:
      while (!chunked_.done()) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0) break;
        if (chunked_.state() == http::ChunkedParser::State::kData) {
          size_t take = static_cast<size_t>(std::min<uint64_t>(avail, chunked_.data_remaining()));
          evbuffer_remove_buffer(in, out, take);
          chunked_.consume_data(take);
          rec.response_body_bytes += take;
          continue;
        }
        size_t look = std::min<size_t>(avail, 4096);
        const char* p =
            reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(look)));
        size_t used = chunked_.parse(p, look);
        if (dechunk_) {
          evbuffer_drain(in, used);
        } else {
          evbuffer_remove_buffer(in, out, used);
        }
        if (chunked_.failed()) {
          broken(UpstreamError::kBadResponse);
          return;
        }
      }
      done = chunked_.done();
      break;
    case BodyMode::kUntilClose: {
      size_t take = evbuffer_get_length(in);
      if (take != 0) evbuffer_add_buffer(out, in);
      rec.response_body_bytes += take;
      break;
    }
  }
  if (done) {
    finish();
    return;
  }
  if (!client_.flush() || state_ == State::kIdle) return;
  if (client_.output_over_high_water()) {
    // Back-pressure: a slow client slows the upstream read.
    paused_ = true;
    conn_->want_read(false);
  }
}

void Exchange::resume() {
  if (!paused_ || state_ != State::kBody) return;
  paused_ = false;
  conn_->want_read(true);
  if (evbuffer_get_length(conn_->in()) != 0) relay_body();
}

void Exchange::finish() {
  release_connection(upstream_keep_alive_);
  state_ = State::kIdle;
  runtime_.reset();
  client_.on_exchange_complete();
}

void Exchange::fail(int status, UpstreamError error) {
  client_.record().error = error;
  client_.record().status = 0;
  release_connection(false);
  state_ = State::kIdle;
  runtime_.reset();
  client_.on_exchange_failed(status);
}

void Exchange::broken(UpstreamError error) {
  client_.record().error = error;
  release_connection(false);
  state_ = State::kIdle;
  runtime_.reset();
  client_.on_exchange_broken();
}

void Exchange::abort() {
  if (state_ == State::kIdle && !conn_) return;
  release_connection(false);
  state_ = State::kIdle;
  paused_ = false;
  runtime_.reset();
}

void Exchange::release_connection(bool reusable) {
  if (body_) evbuffer_drain(body_.get(), evbuffer_get_length(body_.get()));
  if (!conn_) return;
  pool_->release(std::move(conn_), reusable);
}

}  // namespace routemeter
