// ClientConnection, the request body side: the body moves from the client's
// input to the exchange within its window (or is dropped once no exchange
// wants it), and read interest follows the window, the worker's body budget
// and the state (docs/http.md, "Request bodies").
#include <cstdint>

#include "routemeter/client_connection.hpp"
#include "routemeter/worker.hpp"

namespace routemeter {
namespace {

// While a request is in progress, stop reading pipelined input beyond this.
constexpr size_t kMaxPipelined = 64 * 1024;
// While a request body arrives, stop reading once this much of it waits in
// the input buffer: the exchange holds the rest of the window.
constexpr size_t kBodyInputWindow = 16 * 1024;

}  // namespace

// Moves the request body from the input buffer to the exchange (or drops it
// once no exchange wants it) as far as the exchange's window allows.
void ClientConnection::pump_body() {
  while (!closed_ && !body_relay_.done()) {
    const bool forward = forwarded_ && exchange_.active();
    const size_t room = forward ? exchange_.body_room() : SIZE_MAX;
    if (room == 0 || evbuffer_get_length(in_.get()) == 0) break;
    const BodyRelay::Status status =
        body_relay_.relay(in_.get(), forward ? body_.get() : nullptr, room);
    if (forward && evbuffer_get_length(body_.get()) != 0) {
      exchange_.send_body(body_.get());  // an upstream failure may answer the client now
      if (closed_) return;
    }
    switch (status) {
      case BodyRelay::Status::kBadFraming:
        body_failed(400);
        return;
      case BodyRelay::Status::kTooLarge:
        body_failed(413);
        return;
      case BodyRelay::Status::kDone:
        body_done();
        return;
      case BodyRelay::Status::kMore:
        break;
    }
  }
  if (!closed_ && client_eof_ && !body_relay_.done() && evbuffer_get_length(in_.get()) == 0) {
    close();  // the rest of the body can never arrive
  }
}

void ClientConnection::body_done() {
  if (forwarded_ && exchange_.active()) exchange_.end_body();
  if (state_ == State::kDiscard) {
    state_ = State::kIdle;
    if (!keep_alive_ || client_eof_ || worker_.draining()) {
      close();
      return;
    }
    set_timer(worker_.keepalive_timeout());
    want_read(true);  // reads may have paused on a full input while dropping
  }
}

// The request body broke (framing, size) or stalled after the request was
// forwarded: the upstream request is cut (its connection closed, never
// reused) and the client gets `status` if no answer has started.
void ClientConnection::body_failed(int status) {
  if (forwarded_ && exchange_.active()) exchange_.abort();
  body_relay_.start(BodyRelay::Framing::kNone, 0);  // nothing more is read of it
  if (response_started_ || state_ == State::kDiscard) {
    close();
    return;
  }
  if (state_ == State::kReplying) {
    keep_alive_ = false;  // our own answer is on its way: close after it
    return;
  }
  reply(status, true);
}

void ClientConnection::on_request_body_room() {
  if (!processing_) process();
}

void ClientConnection::resume_body() {
  if (!closed_ && !processing_) process();
}

// Read interest, the body budget and the client's timer, from the state:
// called after anything that moved bytes.
void ClientConnection::update_reading() {
  if (closed_) return;
  account_body();
  if (state_ == State::kHandshake) return;
  if (state_ == State::kIdle || state_ == State::kHead) {
    want_read(!client_eof_);  // their timers are set on entry
    return;
  }
  if (state_ == State::kTunnel) {
    const bool room = !tunnel_ending_ && exchange_.body_room() > 0;
    want_read(write_waits_read_ ||
              (!client_eof_ && room && evbuffer_get_length(in_.get()) < kBodyInputWindow));
    return;
  }
  const bool body_pending = !body_relay_.done();
  bool reading = !client_eof_;
  bool waiting_on_client = false;
  if (body_pending) {
    const bool forward = forwarded_ && exchange_.active();
    const bool room = !forward || exchange_.body_room() > 0;
    reading = reading && room && evbuffer_get_length(in_.get()) < kBodyInputWindow;
    if (reading && forward && !worker_.body_budget_left()) {
      worker_.wait_for_body_budget(this);
      reading = false;
    }
    waiting_on_client = room;
  } else {
    reading = reading && evbuffer_get_length(in_.get()) <= kMaxPipelined;
  }
  want_read(reading || write_waits_read_);  // TLS: a write may wait for readability
  if (evbuffer_get_length(out_.get()) != 0 || waiting_on_client) {
    set_timer(worker_.body_timeout());
  } else if (state_ == State::kExchange) {
    set_timer(nullptr);
  }
}

void ClientConnection::account_body() {
  const uint64_t in_body = body_relay_.done() ? 0 : evbuffer_get_length(in_.get());
  const uint64_t held = in_body + exchange_.body_held() + exchange_.body_copy_bytes();
  if (held != body_held_) {
    worker_.add_body_bytes(static_cast<int64_t>(held) - static_cast<int64_t>(body_held_));
    body_held_ = held;
  }
}

}  // namespace routemeter
