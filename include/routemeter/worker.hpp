// A Worker is one thread with its own event_base, its own listening sockets
// (SO_REUSEPORT) and its own upstream pools: the whole data path of the
// connections it accepted runs on it, without locks. The main thread creates
// workers, hands them listening sockets and snapshots, and asks them to drain.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "routemeter/access_log.hpp"
#include "routemeter/event_handles.hpp"
#include "routemeter/request_record.hpp"
#include "routemeter/snapshot.hpp"
#include "routemeter/upstream_pool.hpp"

namespace routemeter {

class ClientConnection;

// One snapshot as a worker uses it: the snapshot plus this worker's pools for
// its upstreams. A request holds a shared_ptr to the runtime it started on,
// so a reload never pulls pools out from under it.
struct WorkerRuntime {
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<std::unique_ptr<UpstreamPool>> pools;  // by upstream index
  std::vector<const timeval*> connect_timeouts;      // by upstream index (common timeouts)
  std::vector<const timeval*> response_timeouts;
  const timeval* tunnel_idle_timeout = nullptr;  // [server] tunnel_idle_timeout (common timeout)
};

class Worker {
 public:
  // `listen_fds`, `tls_fds`: this worker's plain and TLS listening sockets
  // (it takes ownership).
  Worker(size_t id, std::vector<UniqueFd> listen_fds, std::vector<UniqueFd> tls_fds,
         std::shared_ptr<const Snapshot> snapshot);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();  // spawns the thread
  void join();
  // Thread-safe: the worker's loop has returned (drained).
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  // Thread-safe: stop accepting, finish in-flight requests, close idle
  // connections, then return from the loop (or when drain_timeout passes).
  void request_drain();
  // Thread-safe: use `snapshot` for requests that start from now on.
  void request_snapshot(std::shared_ptr<const Snapshot> snapshot);

  // --- worker thread only ---
  size_t id() const { return id_; }
  event_base* base() const { return base_.get(); }
  const std::shared_ptr<WorkerRuntime>& runtime() const { return runtime_; }
  const ServerConfig& server_config() const { return runtime_->snapshot->config().server; }
  bool draining() const { return draining_; }
  // Common-timeout timevals for the client side.
  const timeval* keepalive_timeout() const { return keepalive_tv_; }
  const timeval* header_timeout() const { return header_tv_; }
  const timeval* body_timeout() const { return body_tv_; }
  const timeval* handshake_timeout() const { return handshake_tv_; }
  // A request's route is known (metrics: in flight).
  void begin(const Snapshot& snapshot, RequestRecord& rec);
  // A request ended: metrics, then the access log (`fields` may be null
  // when the snapshot logs nothing).
  void record(const Snapshot& snapshot, const RequestRecord& rec, const AccessLogFields* fields);
  // An upgraded connection (WebSocket) opened or closed: tunnels_active.
  void tunnel_opened(const Snapshot& snapshot, const RequestRecord& rec);
  void tunnel_closed(const Snapshot& snapshot, const RequestRecord& rec);
  // Bytes through a tunnel, counted as they pass (request/response bytes).
  void tunnel_bytes(const Snapshot& snapshot, const RequestRecord& rec, uint64_t from_client,
                    uint64_t to_client);
  // A connection closed itself: free it after the current callback.
  void retire(ClientConnection* conn);
  // Request bodies in transit: the bytes this worker's connections hold
  // (read from clients, not yet written upstream), bounded by the worker's
  // share of kBodyBudget. A connection over it stops reading its body and
  // waits; it is resumed (ClientConnection::resume_body) once bytes free up.
  static constexpr uint64_t kBodyBudget = 32ull * 1024 * 1024;  // all workers
  static constexpr uint64_t kTrimAfter = 4ull * 1024 * 1024;    // see add_body_bytes
  bool body_budget_left() const { return body_bytes_ < body_budget_; }
  void add_body_bytes(int64_t delta);
  void wait_for_body_budget(ClientConnection* conn);
  void forget_body_waiter(ClientConnection* conn);

  static std::atomic<int64_t> active_connections;  // all workers
  static std::atomic<int64_t> body_bytes_all;      // all workers' add_body_bytes
  static std::atomic<uint64_t> total_connections;

 private:
  static void on_accept(evutil_socket_t fd, short, void* arg);
  static void on_accept_tls(evutil_socket_t fd, short, void* arg);
  static void on_notify(evutil_socket_t fd, short, void* arg);
  static void on_reap(evutil_socket_t, short, void* arg);
  static void on_drain_deadline(evutil_socket_t, short, void* arg);
  static void on_accept_backoff(evutil_socket_t, short, void* arg);
  static void on_body_budget(evutil_socket_t, short, void* arg);
  static void on_trim(evutil_socket_t, short, void* arg);
  void wake_body_waiters();
  void accept_ready(int listen_fd, bool tls);
  void accept_failed(int err);
  void resume_accepting();  // after the back-off of a failed accept
  void handle_notify();
  void install_runtime(std::shared_ptr<const Snapshot> snapshot);
  void begin_drain();
  void maybe_finish_drain();
  void set_accepting(bool on);

  size_t id_;
  EventBasePtr base_;
  std::vector<UniqueFd> listen_fds_;
  std::vector<EventPtr> accept_events_;
  bool accepting_ = false;
  UniqueFd notify_fd_;  // eventfd: another thread asked for something
  EventPtr notify_ev_;
  EventPtr reap_ev_;
  EventPtr drain_deadline_ev_;
  EventPtr accept_backoff_ev_;  // accepting again after a failed accept (accept_errors.hpp)
  EventPtr body_budget_ev_;     // body budget freed: wake the waiters
  std::vector<ClientConnection*> body_waiters_;
  uint64_t body_bytes_ = 0;
  uint64_t body_peak_ = 0;              // since the last trim
  EventPtr trim_ev_;                    // gives freed body memory back to the system
  uint64_t body_budget_ = kBodyBudget;  // this worker's share
  std::shared_ptr<WorkerRuntime> runtime_;
  std::unique_ptr<AccessLogWriter> access_log_;
  std::vector<std::unique_ptr<ClientConnection>> connections_;
  std::vector<ClientConnection*> retired_;
  const timeval* keepalive_tv_ = nullptr;
  const timeval* header_tv_ = nullptr;
  const timeval* body_tv_ = nullptr;
  const timeval* handshake_tv_ = nullptr;
  uint64_t max_connections_ = 0;  // this worker's share of server.max_connections
  bool draining_ = false;
  std::thread thread_;
  std::atomic<bool> stopped_{false};

  std::mutex pending_mu_;  // guards the two fields below (cross-thread requests)
  bool pending_drain_ = false;
  std::shared_ptr<const Snapshot> pending_snapshot_;
};

}  // namespace routemeter
