// One client connection: reads and strictly parses requests, classifies them,
// buffers request bodies, hands each request to its Exchange (or answers it
// itself: 404, 4xx), writes responses in order, keeps the connection alive
// between requests. Owned by its Worker; worker thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "routemeter/event_handles.hpp"
#include "routemeter/exchange.hpp"
#include "routemeter/http.hpp"
#include "routemeter/request_record.hpp"

namespace routemeter {

class Worker;
struct WorkerRuntime;

class ClientConnection {
 public:
  ClientConnection(Worker& worker, int fd, std::string client_ip);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  void start();
  // The worker begins draining: close now if idle, else after this response.
  void drain();
  bool closed() const { return closed_; }

  // --- called by the Exchange ---
  evbuffer* out() const { return out_.get(); }
  RequestRecord& record() { return record_; }
  // Whether the connection stays open after the current response.
  bool keep_alive() const { return keep_alive_; }
  // Writes what is buffered; pauses the exchange's upstream reads while the
  // client is slow. Returns false if the connection failed (and is closing).
  bool flush();
  bool output_over_high_water() const;
  // The upstream answered before any response byte was sent: reply ourselves.
  void on_exchange_failed(int status);
  // All response bytes are in out(): finish once they are written.
  void on_exchange_complete();
  // The response cannot be completed (upstream died mid-body): close.
  void on_exchange_broken();

 private:
  enum class State : uint8_t { kIdle, kHead, kBody, kExchange, kReplying, kClosed };

  static void on_read(evutil_socket_t, short, void* arg);
  static void on_write(evutil_socket_t, short, void* arg);
  static void on_timer(evutil_socket_t, short, void* arg);
  void handle_read();
  void handle_write();
  void handle_timer();

  void process();
  bool parse_head();
  bool read_body();
  void dispatch();
  void render_upstream_head(const http::RequestHead& head, std::string_view path);
  void reply(int status, bool close);
  void finish_request();
  void record_finished();
  void close();
  void set_timer(const timeval* tv);
  void want_read(bool on);
  void want_write(bool on);

  Worker& worker_;  // owns this connection
  UniqueFd fd_;
  std::string client_ip_;
  EventPtr read_ev_;
  EventPtr write_ev_;
  EventPtr timer_ev_;
  EvbufferPtr in_;
  EvbufferPtr out_;
  EvbufferPtr body_;
  State state_ = State::kIdle;
  bool reading_ = false;
  bool writing_ = false;
  bool client_eof_ = false;
  bool closed_ = false;
  bool finishing_ = false;   // response fully produced; finish when written
  bool keep_alive_ = true;   // this request allows another after it
  bool processing_ = false;  // inside process(): it loops over pipelined requests

  // The current request.
  http::RequestHead head_;
  std::string path_scratch_;
  std::string upstream_head_;
  // For the access log (only filled when it is on).
  std::string log_target_;
  std::string_view log_version_ = "HTTP/1.1";
  std::string log_referer_;
  std::string log_user_agent_;
  RequestRecord record_;
  std::shared_ptr<WorkerRuntime> runtime_;
  Exchange::Request exchange_req_;
  bool chunked_body_ = false;
  uint64_t body_remaining_ = 0;
  http::ChunkedParser chunked_;
  Exchange exchange_;
};

}  // namespace routemeter
