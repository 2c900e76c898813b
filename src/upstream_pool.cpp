#include "routemeter/upstream_pool.hpp"

#include <cerrno>

namespace routemeter {

UpstreamConnection::UpstreamConnection(UpstreamPool& pool, size_t server, int fd, bool connected)
    : pool_(pool),
      server_(server),
      fd_(fd),
      read_ev_(event_new(pool.base(), fd, EV_READ | EV_PERSIST, &on_read, this)),
      write_ev_(event_new(pool.base(), fd, EV_WRITE | EV_PERSIST, &on_write, this)),
      timer_ev_(evtimer_new(pool.base(), &on_timer, this)),
      in_(evbuffer_new()),
      out_(evbuffer_new()),
      connected_(connected) {}

UpstreamConnection::~UpstreamConnection() = default;

void UpstreamConnection::want_read(bool on) {
  if (on == reading_) return;
  reading_ = on;
  if (on) {
    event_add(read_ev_.get(), nullptr);
  } else {
    event_del(read_ev_.get());
  }
}

void UpstreamConnection::want_write(bool on) {
  if (on == writing_) return;
  writing_ = on;
  if (on) {
    event_add(write_ev_.get(), nullptr);
  } else {
    event_del(write_ev_.get());
  }
}

void UpstreamConnection::set_timeout(const timeval* tv) {
  if (tv == nullptr) {
    evtimer_del(timer_ev_.get());
  } else {
    evtimer_add(timer_ev_.get(), tv);
  }
}

void UpstreamConnection::on_read(evutil_socket_t, short, void* arg) {
  static_cast<UpstreamConnection*>(arg)->handle_read();
}

void UpstreamConnection::on_write(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<UpstreamConnection*>(arg);
  if (self->user_ != nullptr) self->user_->on_upstream_writable();
}

void UpstreamConnection::on_timer(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<UpstreamConnection*>(arg);
  if (self->user_ != nullptr) self->user_->on_upstream_timeout();
}

void UpstreamConnection::handle_read() {
  if (user_ != nullptr) {
    user_->on_upstream_readable();
    return;
  }
  // Idle in the pool: the server closed it or sent something unasked for.
  // Either way it can't carry another request.
  pool_.drop_idle(this);  // deletes this
}

UpstreamPool::UpstreamPool(event_base* base, const ResolvedUpstream& upstream)
    : base_(base), upstream_(upstream), servers_(upstream.servers.size()) {}

UpstreamPool::~UpstreamPool() = default;

size_t UpstreamPool::pick_server(uint64_t now_ns) {
  const size_t n = servers_.size();
  size_t healthy = 0;
  for (size_t i = 0; i < n; ++i) healthy += upstream_.health[i].up.load(std::memory_order_relaxed);
  if (healthy != n) return pick_with_health(now_ns);
  if (n == 1) return 0;
  if (upstream_.config->balance == Balance::kLeastConn) {
    // Fewest leased connections; ties go round-robin so load still spreads.
    size_t best = next_ % n;
    for (size_t i = 1; i < n; ++i) {
      size_t s = (next_ + i) % n;
      if (servers_[s].active < servers_[best].active) best = s;
    }
    next_ = best + 1;
    return best;
  }
  return next_++ % n;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::lease(size_t server, bool fresh, bool* reused) {
  ServerState& st = servers_[server];
  if (!fresh && !st.idle.empty()) {
    std::unique_ptr<UpstreamConnection> conn = std::move(st.idle.back());
    st.idle.pop_back();
    ++st.active;
    *reused = true;
    return conn;
  }
  *reused = false;
  int fd = connect_nonblocking(upstream_.servers[server]);
  if (fd < 0) return nullptr;
  ++st.active;
  return std::make_unique<UpstreamConnection>(*this, server, fd, false);
}

size_t UpstreamPool::pick_with_health(uint64_t now_ns) {
  // Some server is down: the balance rule over the eligible ones (up, or due
  // for a probe). None eligible means every server is down: try them anyway,
  // in turn (nginx does the same; Envoy calls it the panic threshold), so a
  // restarted server serves the next request instead of waiting out the
  // health interval behind fast 502s.
  const size_t n = servers_.size();
  size_t best = kNoServer;
  for (size_t i = 0; i < n; ++i) {
    size_t s = (next_ + i) % n;
    if (!upstream_.eligible(s, now_ns)) continue;
    if (best == kNoServer || (upstream_.config->balance == Balance::kLeastConn &&
                              servers_[s].active < servers_[best].active)) {
      best = s;
      if (upstream_.config->balance == Balance::kRoundRobin ||
          !upstream_.health[s].up.load(std::memory_order_relaxed)) {
        break;  // round-robin takes the first eligible; a probe goes first
      }
    }
  }
  if (best == kNoServer && n != 0) best = next_ % n;
  if (best != kNoServer) next_ = best + 1;
  return best;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn, bool reusable) {
  ServerState& st = servers_[conn->server()];
  --st.active;
  conn->set_user(nullptr);
  conn->set_timeout(nullptr);
  conn->want_write(false);
  if (!reusable || evbuffer_get_length(conn->in()) != 0 ||
      st.idle.size() >= upstream_.config->max_idle_connections) {
    return;  // closes it
  }
  evbuffer_drain(conn->out(), evbuffer_get_length(conn->out()));
  conn->want_read(true);
  st.idle.push_back(std::move(conn));
}

void UpstreamPool::drop_idle(UpstreamConnection* conn) {
  auto& idle = servers_[conn->server()].idle;
  for (auto it = idle.begin(); it != idle.end(); ++it) {
    if (it->get() == conn) {
      idle.erase(it);
      return;
    }
  }
}

void UpstreamPool::close_idle() {
  for (ServerState& st : servers_) st.idle.clear();
}

}  // namespace routemeter
