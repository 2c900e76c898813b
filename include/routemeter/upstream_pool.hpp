// The upstream side of the data path: which server of an upstream a request
// goes to, how healthy each server is, and the keep-alive connections to them.
//
//   ServerHealth     one server's health, passive (connect failures seen by
//                    the workers) and active (health checks): shared by every
//                    worker and the health checker, held by the snapshot
//   ServerSelector   the balance rule (round_robin, least_conn, random_two)
//                    over the servers that are up, for one worker
//   UpstreamPool     one worker's connections to the servers of one upstream,
//                    and its ServerSelector
//
// docs/upstreams.md describes the rules; tests/unit/upstream_pool_test.cpp
// checks them without sockets.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "routemeter/event_handles.hpp"
#include "routemeter/retry_policy.hpp"

namespace routemeter {

struct ResolvedUpstream;  // snapshot.hpp
class UpstreamPool;

// One server's health. Two reasons keep a server out of the balance, each
// one bit of one atomic word, so a worker's pick reads the combined state
// with one relaxed load per server and never locks:
//   passive: `unhealthy_after` connect failures in a row (the workers see
//     them); it ends with any answer from the server, or a passed health
//     check. While only this keeps it out, the server gets one trial request
//     per health interval (claim_trial).
//   active: `unhealthy_after` failed health checks in a row; it ends after
//     `healthy_after` passed checks in a row. Only the health checker sets
//     and clears it.
// up() is true when neither holds. Apart from both, outlier ejection
// ([upstream.outlier]): `consecutive_failures` 5xx answers or failed connects
// in a row eject the server until a time (base_ejection_time x 2^(ejections
// in a row), at most 10 x base); the run of ejections ends with the first
// answer below 500. ResolvedUpstream decides (max_ejection_percent).
// routemeter_upstream_server_up is up() && !ejected(now).
// Workers call the "workers" members; the health checker's thread (the main
// thread) the others. A pick that sees a change a moment late does no harm.
class ServerHealth {
 public:
  static constexpr uint32_t kPassiveDown = 1;
  static constexpr uint32_t kActiveDown = 2;

  bool up() const { return down_.load(std::memory_order_relaxed) == 0; }
  // kPassiveDown | kActiveDown, or 0 when up.
  uint32_t down_reasons() const { return down_.load(std::memory_order_relaxed); }

  // --- workers ---
  // A connect to the server failed (refused or timed out).
  void connect_failed(uint64_t now_ns, uint32_t unhealthy_after);
  // The server sent a response head.
  void answered();
  // While only passively down: whether a trial request may go to it now, at
  // most one per `interval_ns` across all workers (true claims it).
  bool claim_trial(uint64_t now_ns, uint64_t interval_ns);

  // --- outlier ejection, workers ---
  // A 5xx answer or a failed connect; true when the run of them reached
  // `consecutive` (the caller may then eject).
  bool outlier_failed(uint32_t consecutive) {
    return outlier_failures_.fetch_add(1, std::memory_order_relaxed) + 1 >= consecutive;
  }
  // An answer below 500: both runs end (loads first: on the hot path
  // nothing is written).
  void outlier_succeeded() {
    if (outlier_failures_.load(std::memory_order_relaxed) != 0) {
      outlier_failures_.store(0, std::memory_order_relaxed);
    }
    if (ejections_in_row_.load(std::memory_order_relaxed) != 0) {
      ejections_in_row_.store(0, std::memory_order_relaxed);
    }
  }
  // Out of the balance until base_ns x 2^(ejections in a row) from now, at
  // most 10 x base_ns; the run of failures starts over.
  void eject(uint64_t now_ns, uint64_t base_ns);
  bool ejected(uint64_t now_ns) const {
    return now_ns < ejected_until_ns_.load(std::memory_order_relaxed);
  }

  // --- the health checker's thread ---
  // One health check's result; true when it changed the active state.
  bool check_passed(uint32_t healthy_after);
  bool check_failed(uint32_t unhealthy_after);
  // A reload: this server (of the new snapshot) starts as `old` (the same
  // server in the old one) is now. `active`: both configs check it actively
  // (else the active state starts up, with no checks counted).
  void inherit(const ServerHealth& old, bool active);

 private:
  std::atomic<uint32_t> down_{0};
  std::atomic<uint32_t> connect_failures_{0};  // in a row
  std::atomic<uint64_t> down_since_ns_{0};     // passively down since
  std::atomic<uint64_t> last_trial_ns_{0};
  std::atomic<uint32_t> outlier_failures_{0};  // 5xx or failed connects in a row
  std::atomic<uint32_t> ejections_in_row_{0};
  std::atomic<uint64_t> ejected_until_ns_{0};
  uint32_t checks_failed_ = 0;  // in a row; the health checker's thread only
  uint32_t checks_passed_ = 0;
};

// Picks the server for each request of one worker, by the upstream's balance
// rule over the servers that are up (weights from the config):
//   round_robin  smooth weighted round robin (nginx's): with weights 5,1,1
//                the order is a a b a c a a, never five a's in a row
//   least_conn   fewest in-flight requests relative to the weight (this
//                worker's count); ties by smooth weighted round robin
//   random_two   two servers drawn at random by weight, the one with fewer
//                in-flight requests relative to its weight wins (ties: the
//                first drawn); a PRNG per selector, seeded by its owner
// A server only passively down and due for a trial request takes the request
// first (ServerHealth::claim_trial). An ejected server takes none until its
// ejection ends. When no server is up, every server is
// tried in turn (plain round robin over all): a restarted server serves the
// next request. Allocates nothing per pick. One worker thread only.
class ServerSelector {
 public:
  static constexpr size_t kNoServer = ~size_t{0};

  // `upstream` outlives the selector (the snapshot holds it).
  ServerSelector(const ResolvedUpstream& upstream, uint64_t seed);

  // kNoServer only for an upstream without servers. `tried` (a retry: one
  // flag per server, nonzero for the servers this request tried): the pick
  // is among the servers up and not tried; when there is none, as without
  // `tried`.
  size_t pick(uint64_t now_ns, const uint8_t* tried = nullptr);
  // A request started on / finished with `server` (the pool calls these on
  // lease and release).
  void started(size_t server) { ++in_flight_[server]; }
  void finished(size_t server) { --in_flight_[server]; }
  uint32_t in_flight(size_t server) const { return in_flight_[server]; }

 private:
  template <typename Take>
  size_t smooth_weighted(const Take& take);
  size_t least_conn();
  size_t random_two(size_t eligible, uint64_t total_weight);
  // A server drawn by weight among the eligible ones but `skip`.
  size_t draw(uint64_t total_weight, size_t skip);
  uint64_t next_random();
  // in_flight(a)/weight(a) < in_flight(b)/weight(b)
  bool less_loaded(size_t a, size_t b) const;

  const ResolvedUpstream& upstream_;
  uint64_t trial_interval_ns_;
  std::vector<int64_t> weights_;
  std::vector<int64_t> current_;  // smooth weighted round robin state
  std::vector<uint32_t> in_flight_;
  std::vector<uint8_t> eligible_;  // pick()'s view of who is up
  size_t next_ = 0;                // the rotation while every server is down
  uint64_t random_state_;
};

// Who is using an upstream connection: receives its events.
class UpstreamUser {
 public:
  virtual void on_upstream_readable() = 0;
  virtual void on_upstream_writable() = 0;
  virtual void on_upstream_timeout() = 0;

 protected:
  ~UpstreamUser() = default;
};

// One TCP connection to one server. Owned by its pool while idle and by the
// exchange that leased it while in use (through UpstreamPool::lease/release).
class UpstreamConnection {
 public:
  UpstreamConnection(UpstreamPool& pool, size_t server, int fd, bool connected);
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  int fd() const { return fd_.get(); }
  size_t server() const { return server_; }
  evbuffer* in() const { return in_.get(); }
  evbuffer* out() const { return out_.get(); }
  bool connected() const { return connected_; }
  void set_connected() { connected_ = true; }

  void set_user(UpstreamUser* user) { user_ = user; }
  // Read interest: on while leased and while idle (to notice a close).
  void want_read(bool on);
  void want_write(bool on);
  // One-shot timer; a zero duration cancels it.
  void set_timeout(const timeval* tv);

 private:
  static void on_read(evutil_socket_t, short, void* arg);
  static void on_write(evutil_socket_t, short, void* arg);
  static void on_timer(evutil_socket_t, short, void* arg);
  void handle_read();

  UpstreamPool& pool_;  // outlives every connection it made
  size_t server_;
  UniqueFd fd_;
  EventPtr read_ev_;
  EventPtr write_ev_;
  EventPtr timer_ev_;
  EvbufferPtr in_;
  EvbufferPtr out_;
  UpstreamUser* user_ = nullptr;  // null while idle in the pool
  bool connected_ = false;
  bool reading_ = false;
  bool writing_ = false;
};

// Connections to the servers of one upstream, for one worker. A worker owns
// one UpstreamPool per upstream of its current snapshot; only that worker's
// thread touches it (no locks).
class UpstreamPool {
 public:
  // `seed`: of the selector's PRNG (random_two); each worker passes its own.
  UpstreamPool(event_base* base, const ResolvedUpstream& upstream, uint64_t seed = 1);
  ~UpstreamPool();

  event_base* base() const { return base_; }
  const ResolvedUpstream& upstream() const { return upstream_; }

  static constexpr size_t kNoServer = ServerSelector::kNoServer;
  // The server for the next request (ServerSelector::pick): by the balance
  // rule among the servers that are up (and those due a trial request); when
  // every server is down, round robin among all of them. kNoServer only for
  // an upstream without servers.
  // `tried`: a retry's servers to avoid (ServerSelector::pick).
  size_t pick_server(uint64_t now_ns, const uint8_t* tried = nullptr) {
    return selector_.pick(now_ns, tried);
  }
  // This worker's retry budget for the upstream (retry_policy.hpp).
  RetryBudget& retry_budget() { return retry_budget_; }
  // Requests of this worker on `server` now (leased connections).
  uint32_t in_flight(size_t server) const { return selector_.in_flight(server); }
  // An idle connection to `server` if there is one, else a new connecting one
  // (connected() false). nullptr with errno set if the socket cannot be created.
  // `fresh`: never reuse an idle one (a retry after a stale keep-alive connection).
  std::unique_ptr<UpstreamConnection> lease(size_t server, bool fresh, bool* reused);
  // Gives a connection back after a complete exchange; keeps it if the pool
  // has room, else closes it.
  void release(std::unique_ptr<UpstreamConnection> conn, bool reusable);
  // Called by an idle connection that saw EOF or data: drop it.
  void drop_idle(UpstreamConnection* conn);
  // Closes every idle connection (drain and reload).
  void close_idle();

 private:
  struct ServerState {
    std::vector<std::unique_ptr<UpstreamConnection>> idle;
  };
  event_base* base_;
  const ResolvedUpstream& upstream_;  // owned by the snapshot, which outlives the pool
  std::vector<ServerState> servers_;
  ServerSelector selector_;
  RetryBudget retry_budget_;
};

}  // namespace routemeter
