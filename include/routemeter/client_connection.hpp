// One client connection: reads and strictly parses requests, classifies
// them, hands each routed request to its Exchange at once and streams the
// request body to it a window at a time (or answers the request itself: 404,
// 4xx), writes responses in order, keeps the connection alive between
// requests. Owned by its Worker; worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "routemeter/body_relay.hpp"
#include "routemeter/event_handles.hpp"
#include "routemeter/exchange.hpp"
#include "routemeter/http.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/request_record.hpp"
#include "routemeter/transport.hpp"

namespace routemeter {

class Worker;
struct WorkerRuntime;

class ClientConnection final : public ExchangeClient {
 public:
  // `transport` moves the bytes of `fd` (plain or TLS); the connection owns both.
  ClientConnection(Worker& worker, int fd, std::string client_ip,
                   std::unique_ptr<Transport> transport);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  void start();
  // The worker begins draining: close now if idle, else after this response.
  void drain();
  bool closed() const { return closed_; }
  // The worker's body budget has room again (see Worker::add_body_bytes).
  void resume_body();

  // --- ExchangeClient ---
  void on_interim_response(const http::ResponseHead& head) override;
  void on_response_head(const http::ResponseHead& head, const ResponsePlan& plan) override;
  Accept on_response_body(evbuffer* body) override;
  void on_response_complete() override;
  void on_exchange_failed(int status) override;
  void on_exchange_broken() override;
  void on_request_body_room() override;
  void on_body_held_changed() override { account_body(); }

 private:
  // kHandshake: the transport's (TLS) handshake, before any request.
  // kDiscard: the response is written but the request body is still
  // arriving; it is read and dropped, then the connection is idle again.
  // kTunnel: after a 101, the connection is a byte tunnel through the exchange.
  enum class State : uint8_t {
    kHandshake,
    kIdle,
    kHead,
    kExchange,
    kReplying,
    kDiscard,
    kTunnel,
    kClosed
  };

  static void on_read(evutil_socket_t, short, void* arg);
  static void on_write(evutil_socket_t, short, void* arg);
  static void on_timer(evutil_socket_t, short, void* arg);
  static void on_closed(evutil_socket_t, short, void* arg);
  void handle_read();
  void handle_closed();
  void step_handshake();
  void count_handshake(TlsHandshakeResult result);
  void handle_write();
  void handle_timer();

  void process();
  bool parse_head();
  void start_request(const http::RequestHead& head, bool routed, std::string_view forward_path);
  void pump_body();
  void pump_tunnel();
  void open_tunnel();
  void body_failed(int status);
  void body_done();
  void reply(int status, bool close, std::string_view detail = {});
  bool flush();
  void finish_request();
  void record_finished();
  void close();
  void update_reading();
  void account_body();
  void set_timer(const timeval* tv);
  void want_read(bool on);
  void want_write(bool on);
  void watch_close();

  Worker& worker_;  // owns this connection
  UniqueFd fd_;
  std::unique_ptr<Transport> transport_;  // declared after fd_: gone before it closes
  std::string client_ip_;
  EventPtr read_ev_;
  EventPtr write_ev_;
  EventPtr timer_ev_;
  EventPtr closed_ev_;  // while reads are paused: notices a client that resets
  EvbufferPtr in_;
  EvbufferPtr out_;
  EvbufferPtr body_;  // request body on its way to the exchange
  State state_ = State::kIdle;
  bool reading_ = false;
  bool writing_ = false;
  bool watching_close_ = false;
  bool read_waits_write_ = false;  // a TLS read wants the socket writable first
  bool write_waits_read_ = false;  // a TLS write wants the socket readable first
  bool plain_on_tls_ = false;      // plain HTTP sent to a TLS port: answer 400
  bool tunnel_ending_ = false;     // the tunnel closes once out_ is written
  bool client_eof_ = false;
  bool closed_ = false;
  bool finishing_ = false;   // response fully produced; finish when written
  bool keep_alive_ = true;   // this request allows another after it
  bool processing_ = false;  // inside process(): it loops over pipelined requests

  // The current request.
  http::RequestHead head_;
  std::string path_scratch_;
  std::string scratch_;  // rendered heads
  // For the access log (only filled when it is on).
  std::string log_target_;
  std::string_view log_version_ = "HTTP/1.1";
  std::string log_referer_;
  std::string log_user_agent_;
  RequestRecord record_;
  std::shared_ptr<WorkerRuntime> runtime_;
  bool http10_ = false;
  bool head_request_ = false;
  bool forwarded_ = false;         // handed to the exchange
  bool response_started_ = false;  // a response head went into out_
  bool continue_sent_ = false;     // a 100 Continue went to the client
  BodyRelay body_relay_;           // the request body, as it arrives
  RequestRecord tunnel_record_;    // the upgraded request (route, upstream) while tunneling
  std::shared_ptr<WorkerRuntime> tunnel_runtime_;
  uint64_t body_held_ = 0;  // what this connection counts in the worker's body budget
  Exchange exchange_;
};

}  // namespace routemeter
