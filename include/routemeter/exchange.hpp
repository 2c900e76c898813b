// An Exchange forwards one request to its upstream and relays the answer:
// pick a server, lease a pooled connection (or connect), send the request,
// parse the response head, stream the body to the client with back-pressure.
// Owned by a ClientConnection (one per connection, reused per request); runs on
// the worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "routemeter/http.hpp"
#include "routemeter/request_record.hpp"
#include "routemeter/upstream_pool.hpp"

namespace routemeter {

class ClientConnection;
struct WorkerRuntime;

class Exchange final : public UpstreamUser {
 public:
  explicit Exchange(ClientConnection& client) : client_(client) {}
  ~Exchange();

  struct Request {
    size_t upstream = 0;  // index into the runtime's pools
    http::Method method = http::Method::kGet;
    bool client_http10 = false;  // the client speaks HTTP/1.0: no chunked to it
    bool retryable = false;      // idempotent and bodiless: may retry on a fresh connection
  };
  // Starts forwarding. `head` is the rendered upstream request head; `body`
  // (may be empty) is moved out. Progress and the end are reported to the client.
  void start(std::shared_ptr<WorkerRuntime> runtime, const Request& req, std::string& head,
             evbuffer* body);
  // The client's output buffer drained below the low-water mark.
  void resume();
  // The client went away: drop the upstream connection.
  void abort();
  // The response tells the client connection to close after it.
  bool client_must_close() const { return client_must_close_; }

  void on_upstream_readable() override;
  void on_upstream_writable() override;
  void on_upstream_timeout() override;

 private:
  enum class State : uint8_t { kIdle, kConnecting, kSending, kAwaitHead, kBody };
  enum class BodyMode : uint8_t { kNone, kLength, kChunked, kUntilClose };

  void connect_and_send();
  void send_request();
  void arm_timer();
  void upstream_failed(int err);
  void fail(int status, UpstreamError error);
  void broken(UpstreamError error);
  void parse_head();
  void relay_body();
  void finish();
  void release_connection(bool reusable);
  void render_response_head();

  ClientConnection& client_;  // owns this exchange
  std::shared_ptr<WorkerRuntime> runtime_;
  UpstreamPool* pool_ = nullptr;
  std::unique_ptr<UpstreamConnection> conn_;
  Request req_;
  State state_ = State::kIdle;
  BodyMode body_mode_ = BodyMode::kNone;
  bool reused_ = false;
  bool retried_ = false;
  bool dechunk_ = false;
  bool upstream_keep_alive_ = true;
  bool client_must_close_ = false;
  bool paused_ = false;
  uint64_t body_remaining_ = 0;
  http::ChunkedParser chunked_;
  std::string head_;     // upstream request head, kept for one retry
  EvbufferPtr body_;     // upstream request body
  std::string scratch_;  // response head rendering
  http::ResponseHead response_;
};

}  // namespace routemeter
