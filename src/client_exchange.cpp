// ClientConnection as the exchange's client (ExchangeClient): interim and
// final response heads, the response body with back-pressure, the end or
// failure of an exchange, and the byte tunnel a 101 opens (docs/http.md).
#include "routemeter/client_connection.hpp"
#include "routemeter/http_rewrite.hpp"
#include "routemeter/worker.hpp"

namespace routemeter {
namespace {

// Client output above this pauses upstream reads (resumed below kLowWater,
// client_connection.cpp).
constexpr size_t kHighWater = 256 * 1024;

}  // namespace

void ClientConnection::on_interim_response(const http::ResponseHead& head) {
  if (head.status == 100 && continue_sent_) return;  // one 100 Continue is enough
  if (head.status == 100) continue_sent_ = true;
  render_interim_response(head, scratch_);
  evbuffer_add(out_.get(), scratch_.data(), scratch_.size());
  flush();
}

void ClientConnection::on_response_head(const http::ResponseHead& head, const ResponsePlan& plan) {
  response_started_ = true;
  record_.status = head.status;
  if (plan.client_must_close) keep_alive_ = false;
  render_client_response(head, plan, !keep_alive_, http10_, scratch_);
  evbuffer_add(out_.get(), scratch_.data(), scratch_.size());
  if (plan.tunnel) open_tunnel();
}

// A 101: the request is answered (counted once, its duration ends here) and
// the connection becomes a byte tunnel until either side closes, it idles
// for tunnel_idle_timeout, or a drain ends.
void ClientConnection::open_tunnel() {
  record_.end_ns = monotonic_ns();
  record_finished();
  tunnel_record_ = record_;
  tunnel_runtime_ = runtime_;
  worker_.tunnel_opened(*tunnel_runtime_->snapshot, tunnel_record_);
  record_.clear();
  state_ = State::kTunnel;
  set_timer(nullptr);                      // the exchange's tunnel_idle_timeout covers both sides
  if (client_eof_) tunnel_ending_ = true;  // half-closed before the 101: close once it is out
  if (!flush()) return;
  if (!processing_) {
    pump_tunnel();  // client bytes that came right after the request
    update_reading();
  }
}

void ClientConnection::pump_tunnel() {
  while (!closed_ && state_ == State::kTunnel && evbuffer_get_length(in_.get()) != 0) {
    const size_t room = exchange_.body_room();
    if (room == 0) break;
    const size_t n = std::min(room, evbuffer_get_length(in_.get()));
    evbuffer_remove_buffer(in_.get(), body_.get(), n);
    worker_.tunnel_bytes(*tunnel_runtime_->snapshot, tunnel_record_, n, 0);
    exchange_.send_body(body_.get());
  }
}

ExchangeClient::Accept ClientConnection::on_response_body(evbuffer* body) {
  if (state_ == State::kTunnel) {
    worker_.tunnel_bytes(*tunnel_runtime_->snapshot, tunnel_record_, 0, evbuffer_get_length(body));
  }
  evbuffer_add_buffer(out_.get(), body);
  if (!flush()) return Accept::kClosed;
  return evbuffer_get_length(out_.get()) > kHighWater ? Accept::kPause : Accept::kMore;
}

void ClientConnection::on_response_complete() {
  state_ = State::kReplying;
  finishing_ = true;
  flush();
}

void ClientConnection::on_exchange_failed(int status) { reply(status, !keep_alive_); }

void ClientConnection::on_exchange_broken() {
  if (state_ == State::kTunnel && evbuffer_get_length(out_.get()) != 0) {
    // The upstream closed its side of a tunnel: what it sent before (a
    // WebSocket close frame...) still goes out, then the connection closes
    // (flush); a client that does not read it is dropped after
    // client_body_timeout.
    tunnel_ending_ = true;
    want_read(false);
    set_timer(worker_.body_timeout());
    return;
  }
  close();
}

}  // namespace routemeter
