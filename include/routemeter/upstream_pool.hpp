// The upstream side of one worker: for each server of one upstream, its
// keep-alive connections. A worker owns one UpstreamPool per upstream of its
// current snapshot; only that worker's thread touches it (no locks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "routemeter/event_handles.hpp"
#include "routemeter/snapshot.hpp"

namespace routemeter {

class UpstreamPool;

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

// Connections to the servers of one upstream, for one worker.
class UpstreamPool {
 public:
  UpstreamPool(event_base* base, const ResolvedUpstream& upstream);
  ~UpstreamPool();

  event_base* base() const { return base_; }
  const ResolvedUpstream& upstream() const { return upstream_; }

  static constexpr size_t kNoServer = ~size_t{0};
  // Picks a server by the upstream's balance rule among the healthy ones (and
  // those due for a probe); when every server is down, round-robin among all
  // of them. kNoServer only for an upstream without servers.
  size_t pick_server(uint64_t now_ns);
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
  size_t pick_with_health(uint64_t now_ns);

  struct ServerState {
    std::vector<std::unique_ptr<UpstreamConnection>> idle;
    uint32_t active = 0;  // leased connections
  };
  event_base* base_;
  const ResolvedUpstream& upstream_;  // owned by the snapshot, which outlives the pool
  std::vector<ServerState> servers_;
  size_t next_ = 0;
};

}  // namespace routemeter
