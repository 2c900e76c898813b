// An Exchange forwards one request to its upstream and relays the answer:
// pick a server, lease a pooled connection (or connect), send the request
// head and stream the request body as the client provides it, parse the
// response head, stream the response body back with back-pressure both ways.
// A failed attempt is tried again (on another server when there is one) per
// the upstream's retries, retry_on and retry_budget, while nothing of the
// answer reached the client (docs/upstreams.md, "Retries").
// It talks to its client only through ExchangeClient. Owned by a
// ClientConnection (one per connection, reused per request); runs on the
// worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "routemeter/body_relay.hpp"
#include "routemeter/http.hpp"
#include "routemeter/http_rewrite.hpp"
#include "routemeter/request_record.hpp"
#include "routemeter/upstream_pool.hpp"

namespace routemeter {

struct WorkerRuntime;

// The client side of an exchange, as the exchange sees it. The exchange may
// call any of these from inside its own calls (start, send_body, ...), and
// the client may abort() the exchange from inside any of them.
class ExchangeClient {
 public:
  enum class Accept : uint8_t { kMore, kPause, kClosed };
  // An interim 1xx (not 101) before the final answer; relayed to HTTP/1.1
  // clients only (the exchange does not call it for HTTP/1.0 ones).
  virtual void on_interim_response(const http::ResponseHead& head) = 0;
  // The upstream's final response head.
  virtual void on_response_head(const http::ResponseHead& head, const ResponsePlan& plan) = 0;
  // Response body bytes: moves all of `body` out. kPause: the client is slow,
  // the exchange stops reading the upstream until resume(); kClosed: the
  // client connection is gone (the exchange was aborted).
  virtual Accept on_response_body(evbuffer* body) = 0;
  // Every response byte was handed over.
  virtual void on_response_complete() = 0;
  // The exchange failed before any response byte was handed over: the
  // client answers `status` itself.
  virtual void on_exchange_failed(int status) = 0;
  // The exchange failed after the response head was handed over.
  virtual void on_exchange_broken() = 0;
  // Request body bytes went out to the upstream: body_room() grew.
  virtual void on_request_body_room() = 0;
  // What the exchange holds of the request body changed with no byte from
  // the client (a retry refilled it from the copy; an answer made the copy
  // useless): body_held() and body_copy_bytes() are to be counted again.
  virtual void on_body_held_changed() = 0;

 protected:
  ~ExchangeClient() = default;
};

class Exchange final : public UpstreamUser {
 public:
  // Request body bytes held per request, not yet written to the upstream.
  static constexpr size_t kBodyWindow = 64 * 1024;

  explicit Exchange(ExchangeClient& client) : client_(client) {}
  ~Exchange();

  struct Request {
    size_t upstream = 0;  // index into the runtime's pools
    http::Method method = http::Method::kGet;
    bool client_http10 = false;  // the client speaks HTTP/1.0: no chunked to it
    bool idempotent = false;     // an idempotent method, no upgrade: may retry past a connect
    bool body_follows = false;   // more request body comes through send_body(), then end_body()
    bool add_host = false;       // no Host (HTTP/1.0): send the chosen server's host:port
    bool upgrade = false;        // asks to switch protocols: a 101 opens a tunnel
  };
  // What the exchange did, for the request's record.
  struct Outcome {
    int64_t server = -1;  // the server tried last, -1 if none
    UpstreamError error = UpstreamError::kNone;
    RetriedAttempts retried;  // the attempts before the last one
    int status = 0;           // the upstream's final status, once its head was handed over
    uint64_t response_body_bytes = 0;
    UpstreamTimes times;
  };

  // Starts forwarding. `head` (the rendered upstream request head) is moved
  // out; so is `body`, the request body bytes already at hand (may be empty).
  void start(std::shared_ptr<WorkerRuntime> runtime, const Request& req, std::string& head,
             evbuffer* body);
  // Request body (or, in a tunnel, client) bytes the exchange takes now (it
  // holds at most kBodyWindow).
  size_t body_room() const;
  // Request body bytes held, not yet written to the upstream.
  size_t body_held() const;
  // The copy of the request body kept for a retry (at most kBodyWindow, until
  // the response head): memory the process-wide body bound counts too.
  size_t body_copy_bytes() const { return replay_ ? evbuffer_get_length(replay_.get()) : 0; }
  // More request body: moves all of `body` out (at most body_room() bytes).
  void send_body(evbuffer* body);
  // The request body is complete.
  void end_body();
  // The client's output buffer drained below its low-water mark.
  void resume();
  // Stops: the upstream connection is closed, never reused.
  void abort();
  bool active() const { return state_ != State::kIdle; }
  const Outcome& outcome() const { return outcome_; }

  void on_upstream_readable() override;
  void on_upstream_writable() override;
  void on_upstream_timeout() override;

 private:
  // kTunnel: after a 101 to an upgrade, bytes go both ways as they are:
  // send_body() carries the client's, on_response_body() the upstream's.
  enum class State : uint8_t { kIdle, kConnecting, kSending, kAwaitHead, kBody, kTunnel };

  void connect_and_send();
  void send_request();
  void write_request();
  void arm_timer();
  void upstream_failed(int err);
  // Tries the request again after a failed attempt if the rules allow it
  // (true: the new attempt has started); `status`: what the failed attempt
  // stands for (the server's 5xx, the proxy's 502/504, 0).
  bool retry(RetryReason reason, UpstreamError error, int status);
  // The request body bytes the client handed over: copied for a retry while
  // the copy is complete and within kBodyWindow.
  void keep_copy(evbuffer* body);
  void fail(UpstreamError error);
  void broken(UpstreamError error);
  void parse_head();
  void relay_body(bool eof);
  void relay_tunnel();
  void write_tunnel();
  void end_tunnel();
  void finish();
  void stop();
  void release_connection(bool reusable);

  ExchangeClient& client_;  // owns this exchange
  std::shared_ptr<WorkerRuntime> runtime_;
  UpstreamPool* pool_ = nullptr;
  std::unique_ptr<UpstreamConnection> conn_;
  Request req_;
  Outcome outcome_;
  State state_ = State::kIdle;
  bool reused_ = false;
  bool stale_retried_ = false;    // the one retry after a stale keep-alive connection
  bool interim_relayed_ = false;  // a 1xx reached the client: no more retries
  bool budget_counted_ = false;   // counted in the pool's RetryBudget
  bool copying_ = false;          // keep a copy of the request body (idempotent)
  bool copy_complete_ = true;     // replay_ holds every body byte handed over
  uint8_t retries_ = 0;           // retries taken from the budget
  bool body_ended_ = true;        // the client gave the whole request body
  bool upstream_reusable_ = true;
  bool paused_ = false;
  BodyRelay relay_;
  std::string head_;            // upstream request head, kept for one retry
  EvbufferPtr pending_;         // request body waiting for the connect
  EvbufferPtr staging_;         // response body on its way to the client
  EvbufferPtr replay_;          // the request body so far, for a retry (copying_)
  std::vector<uint8_t> tried_;  // per server: tried by this request (after a retry)
  http::ResponseHead response_;
};

}  // namespace routemeter
