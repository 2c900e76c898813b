#include "routemeter/admin_connections.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sys/socket.h>

#include "routemeter/event_handles.hpp"

namespace routemeter {

// One admin connection. Until adopted, this holds a reference on the
// bufferevent so the pointer stays valid even if evhttp is already done with
// it; once adopted, evhttp's close callback removes it while the bufferevent
// still lives.
struct AdminConnections::Conn {
  AdminConnections* owner = nullptr;  // outlives every Conn (see the header)
  bufferevent* bev = nullptr;
  evhttp_connection* evcon = nullptr;  // null until adopted
  EventPtr timer;                      // adoption (at once), then the request deadline
  evbuffer_cb_entry* input_cb = nullptr;
  bool counted = false;    // one of the open() connections
  bool in_request = true;  // a request is being read: its deadline runs
};

namespace {

timeval to_timeval(std::chrono::seconds s) { return timeval{static_cast<time_t>(s.count()), 0}; }

void shut_down(bufferevent* bev) {
  // Both ways: the client sees the close at once, and evhttp, reading EOF,
  // frees the connection through its usual error path.
  const evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd >= 0) shutdown(fd, SHUT_RDWR);
}

}  // namespace

AdminConnections::AdminConnections(event_base* base, evhttp* http) : base_(base) {
  evhttp_set_bevcb(http, &AdminConnections::make_bufferevent, this);
  evhttp_set_max_headers_size(http, static_cast<ev_ssize_t>(kAdminMaxHeadBytes));
  evhttp_set_max_body_size(http, static_cast<ev_ssize_t>(kAdminMaxBodyBytes));
  // Read a too-large body to its end before answering 413, so the client,
  // still sending, gets the answer instead of a reset.
  evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
  // evhttp's own timeout: nothing read or written for this long closes the
  // connection. Between requests that is the keep-alive idle timeout.
  const timeval idle = to_timeval(kAdminIdleTimeout);
  evhttp_set_timeout_tv(http, &idle);
}

AdminConnections::~AdminConnections() {
  // Only connections accepted on the last loop iteration can be left.
  while (!conns_.empty()) remove(*conns_.begin()->second);
}

bufferevent* AdminConnections::make_bufferevent(event_base*, void* arg) {
  return static_cast<AdminConnections*>(arg)->make_bufferevent();
}

bufferevent* AdminConnections::make_bufferevent() {
  // The options evhttp would use: it closes the socket itself.
  bufferevent* bev = bufferevent_socket_new(base_, -1, 0);
  if (bev == nullptr) return nullptr;  // evhttp makes its own: neither counted nor timed
  bufferevent_incref(bev);
  auto conn = std::make_unique<Conn>();
  conn->owner = this;
  conn->bev = bev;
  conn->timer.reset(evtimer_new(
      base_,
      [](evutil_socket_t, short, void* arg) {
        auto* c = static_cast<Conn*>(arg);
        c->owner->on_timer(*c);
      },
      conn.get()));
  conn->input_cb = evbuffer_add_cb(
      bufferevent_get_input(bev),
      [](evbuffer*, const evbuffer_cb_info* info, void* arg) {
        if (info->n_added == 0) return;
        auto* c = static_cast<Conn*>(arg);
        c->owner->on_input(*c);
      },
      conn.get());
  if (open_ < kAdminMaxConnections) {
    conn->counted = true;
    ++open_;
  }
  const timeval now{0, 0};
  evtimer_add(conn->timer.get(), &now);  // adopt once evhttp has set it up
  conns_.emplace(bev, std::move(conn));
  return bev;
}

void AdminConnections::on_timer(Conn& conn) {
  if (conn.evcon != nullptr) {  // the request deadline
    shut_down(conn.bev);
    return;
  }
  bufferevent_data_cb readcb = nullptr;
  void* cbarg = nullptr;
  bufferevent_getcb(conn.bev, &readcb, nullptr, nullptr, &cbarg);
  if (readcb == nullptr) {  // evhttp is already done with it
    remove(conn);
    return;
  }
  conn.evcon = static_cast<evhttp_connection*>(cbarg);
  evhttp_connection_set_closecb(
      conn.evcon,
      [](evhttp_connection*, void* arg) {
        auto* c = static_cast<Conn*>(arg);
        c->owner->remove(*c);
      },
      &conn);
  bufferevent_decref(conn.bev);  // evhttp's close callback now tells when it goes
  if (!conn.counted) {
    shut_down(conn.bev);  // one too many
  } else if (conn.in_request) {
    const timeval tv = to_timeval(kAdminRequestTimeout);
    evtimer_add(conn.timer.get(), &tv);
  }
}

void AdminConnections::on_input(Conn& conn) {
  if (conn.in_request || conn.evcon == nullptr) return;
  // The first bytes of the next request on a kept-alive connection.
  conn.in_request = true;
  const timeval tv = to_timeval(kAdminRequestTimeout);
  evtimer_add(conn.timer.get(), &tv);
}

void AdminConnections::request_read(evhttp_request* req) {
  evhttp_connection* evcon = evhttp_request_get_connection(req);
  if (evcon == nullptr) return;
  auto it = conns_.find(evhttp_connection_get_bufferevent(evcon));
  if (it == conns_.end()) return;
  Conn& conn = *it->second;
  conn.in_request = false;
  // Before adoption the timer is the adoption itself (a request read in the
  // connection's first loop iteration): it must still run, or the connection
  // would never get its close callback and would stay counted forever.
  if (conn.evcon != nullptr) evtimer_del(conn.timer.get());
}

void AdminConnections::remove(Conn& conn) {
  bufferevent* bev = conn.bev;
  evbuffer_remove_cb_entry(bufferevent_get_input(bev), conn.input_cb);
  if (conn.counted) --open_;
  const bool held = conn.evcon == nullptr;
  conns_.erase(bev);  // destroys conn (and its timer)
  if (held) bufferevent_decref(bev);
}

}  // namespace routemeter
