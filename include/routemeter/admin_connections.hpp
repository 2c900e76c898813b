// The admin listener's connection limits (docs/operations.md, "Admin listener
// limits"), fixed rather than configurable, and the AdminConnections that
// enforces the ones evhttp (libevent 2.1) cannot: it limits neither how many
// connections are open nor how long a client may take to send a request head
// (its timeout only measures inactivity, which a client dripping a byte at a
// time resets forever). Owned by the AdminServer; main (admin) thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <unordered_map>

struct bufferevent;
struct event_base;
struct evhttp;
struct evhttp_request;

namespace routemeter {

// Larger request heads are refused. evhttp answers them 400 and closes: it
// gives no way to answer 431 (its handler never sees the request).
inline constexpr size_t kAdminMaxHeadBytes = 16 * 1024;
// Larger request bodies are answered 413 (the body is read and dropped first,
// so the client sees the answer).
inline constexpr size_t kAdminMaxBodyBytes = 1024 * 1024;
// From a connection's accept, or the first byte of its next request, to that
// request read in full; then the connection is closed without an answer.
inline constexpr std::chrono::seconds kAdminRequestTimeout{10};
// A keep-alive connection with nothing to read or write for this long is closed.
inline constexpr std::chrono::seconds kAdminIdleTimeout{60};
// Connections open at once; one more is closed as soon as it is accepted.
inline constexpr size_t kAdminMaxConnections = 64;

// Every connection evhttp accepts gets its bufferevent from here
// (evhttp_set_bevcb). On the next loop iteration the connection is adopted:
// its evhttp_connection (the bufferevent's callback argument) gets a close
// callback, so the count of open connections is exact, and a deadline for
// the request being read. One over the limit is shut down instead.
class AdminConnections {
 public:
  // Installs itself on `http`, which must be freed before this object (the
  // AdminServer frees its evhttp first: every close callback runs then).
  AdminConnections(event_base* base, evhttp* http);
  ~AdminConnections();
  AdminConnections(const AdminConnections&) = delete;
  AdminConnections& operator=(const AdminConnections&) = delete;

  // Connections counted against kAdminMaxConnections.
  size_t open() const { return open_; }
  // `req` was read in full: its connection's request deadline stops.
  void request_read(evhttp_request* req);

 private:
  struct Conn;
  static bufferevent* make_bufferevent(event_base* base, void* arg);
  bufferevent* make_bufferevent();
  void on_timer(Conn& conn);
  void on_input(Conn& conn);
  void remove(Conn& conn);

  event_base* base_;
  size_t open_ = 0;
  std::unordered_map<bufferevent*, std::unique_ptr<Conn>> conns_;
};

}  // namespace routemeter
