#include "routemeter/upstream_pool.hpp"

#include <algorithm>
#include <cerrno>

#include "routemeter/net.hpp"
#include "routemeter/snapshot.hpp"

namespace routemeter {

// ---------------------------------------------------------------- ServerHealth

void ServerHealth::connect_failed(uint64_t now_ns, uint32_t unhealthy_after) {
  const uint32_t n = connect_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n < unhealthy_after) return;
  if ((down_.fetch_or(kPassiveDown, std::memory_order_relaxed) & kPassiveDown) == 0) {
    down_since_ns_.store(now_ns, std::memory_order_relaxed);
  }
}

void ServerHealth::answered() {
  // Loads first: on the hot path the server is up and nothing is written.
  if (connect_failures_.load(std::memory_order_relaxed) != 0) {
    connect_failures_.store(0, std::memory_order_relaxed);
  }
  if ((down_.load(std::memory_order_relaxed) & kPassiveDown) != 0) {
    down_.fetch_and(~kPassiveDown, std::memory_order_relaxed);
  }
}

bool ServerHealth::claim_trial(uint64_t now_ns, uint64_t interval_ns) {
  uint64_t last = last_trial_ns_.load(std::memory_order_relaxed);
  const uint64_t since = std::max(last, down_since_ns_.load(std::memory_order_relaxed));
  if (now_ns - since < interval_ns) return false;
  // One trial per interval across all workers.
  return last_trial_ns_.compare_exchange_strong(last, now_ns, std::memory_order_relaxed);
}

void ServerHealth::eject(uint64_t now_ns, uint64_t base_ns) {
  const uint32_t in_row = ejections_in_row_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t factor = in_row >= 4 ? 10 : std::min<uint64_t>(uint64_t{1} << in_row, 10);
  ejected_until_ns_.store(now_ns + (base_ns * factor), std::memory_order_relaxed);
  outlier_failures_.store(0, std::memory_order_relaxed);
}

bool ServerHealth::check_passed(uint32_t healthy_after) {
  checks_failed_ = 0;
  if (checks_passed_ < healthy_after) ++checks_passed_;
  // The server accepted a connection and answered: whatever connect
  // failures the workers saw are over.
  answered();
  if ((down_.load(std::memory_order_relaxed) & kActiveDown) == 0 ||
      checks_passed_ < healthy_after) {
    return false;
  }
  down_.fetch_and(~kActiveDown, std::memory_order_relaxed);
  return true;
}

bool ServerHealth::check_failed(uint32_t unhealthy_after) {
  checks_passed_ = 0;
  if (checks_failed_ < unhealthy_after) ++checks_failed_;
  if (checks_failed_ < unhealthy_after) return false;
  return (down_.fetch_or(kActiveDown, std::memory_order_relaxed) & kActiveDown) == 0;
}

void ServerHealth::inherit(const ServerHealth& old, bool active) {
  uint32_t down = old.down_.load(std::memory_order_relaxed);
  if (active) {
    checks_failed_ = old.checks_failed_;
    checks_passed_ = old.checks_passed_;
  } else {
    down &= ~kActiveDown;
  }
  connect_failures_.store(old.connect_failures_.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  down_since_ns_.store(old.down_since_ns_.load(std::memory_order_relaxed),
                       std::memory_order_relaxed);
  last_trial_ns_.store(old.last_trial_ns_.load(std::memory_order_relaxed),
                       std::memory_order_relaxed);
  outlier_failures_.store(old.outlier_failures_.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  ejections_in_row_.store(old.ejections_in_row_.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  ejected_until_ns_.store(old.ejected_until_ns_.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  down_.store(down, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- ServerSelector

ServerSelector::ServerSelector(const ResolvedUpstream& upstream, uint64_t seed)
    : upstream_(upstream),
      trial_interval_ns_(static_cast<uint64_t>(upstream.config->health.interval.count()) *
                         1000000ull),
      current_(upstream.servers.size(), 0),
      in_flight_(upstream.servers.size(), 0),
      eligible_(upstream.servers.size(), 0),
      random_state_(seed) {
  for (size_t s = 0; s < upstream.servers.size(); ++s) {
    weights_.push_back(upstream.config->weight(s));
  }
}

size_t ServerSelector::pick(uint64_t now_ns, const uint8_t* tried) {
  const size_t n = weights_.size();
  if (n == 0) return kNoServer;
  if (tried != nullptr) {
    // A retry goes to a server this request has not tried, if one is up.
    bool untried_up = false;
    for (size_t s = 0; s < n && !untried_up; ++s) {
      const ServerHealth& health = upstream_.health[s];
      untried_up = tried[s] == 0 && health.up() && !health.ejected(now_ns);
    }
    if (!untried_up) tried = nullptr;
  }
  size_t eligible = 0;
  uint64_t total_weight = 0;
  for (size_t s = 0; s < n; ++s) {
    ServerHealth& health = upstream_.health[s];
    if (tried != nullptr && tried[s] != 0) {
      eligible_[s] = 0;
      continue;
    }
    const uint32_t down = health.down_reasons();
    const bool ejected = health.ejected(now_ns);
    if (down == ServerHealth::kPassiveDown && !ejected &&
        health.claim_trial(now_ns, trial_interval_ns_)) {
      return s;  // a trial request goes first
    }
    eligible_[s] = down == 0 && !ejected ? 1 : 0;
    if (eligible_[s] != 0) {
      ++eligible;
      total_weight += static_cast<uint64_t>(weights_[s]);
    }
  }
  if (eligible == 0) {
    // Every server is down: try them anyway, in turn (nginx does the same;
    // Envoy calls it the panic threshold), so a restarted server serves the
    // next request instead of waiting out the health interval behind fast 502s.
    const size_t s = next_ % n;
    next_ = s + 1;
    return s;
  }
  switch (upstream_.config->balance) {
    case Balance::kRoundRobin:
      break;
    case Balance::kLeastConn:
      return least_conn();
    case Balance::kRandomTwo:
      return random_two(eligible, total_weight);
  }
  return smooth_weighted([this](size_t s) { return eligible_[s] != 0; });
}

// nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every
// candidate's current weight grows by its weight, the largest wins and gives
// back the sum of the candidates' weights.
template <typename Take>
size_t ServerSelector::smooth_weighted(const Take& take) {
  size_t best = kNoServer;
  int64_t total = 0;
  for (size_t s = 0; s < weights_.size(); ++s) {
    if (!take(s)) continue;
    current_[s] += weights_[s];
    total += weights_[s];
    if (best == kNoServer || current_[s] > current_[best]) best = s;
  }
  current_[best] -= total;
  return best;
}

bool ServerSelector::less_loaded(size_t a, size_t b) const {
  return static_cast<uint64_t>(in_flight_[a]) * static_cast<uint64_t>(weights_[b]) <
         static_cast<uint64_t>(in_flight_[b]) * static_cast<uint64_t>(weights_[a]);
}

size_t ServerSelector::least_conn() {
  size_t best = kNoServer;
  for (size_t s = 0; s < weights_.size(); ++s) {
    if (eligible_[s] != 0 && (best == kNoServer || less_loaded(s, best))) best = s;
  }
  // Every server as little loaded as the best one takes part in the round robin.
  return smooth_weighted(
      [this, best](size_t s) { return eligible_[s] != 0 && !less_loaded(best, s); });
}

size_t ServerSelector::random_two(size_t eligible, uint64_t total_weight) {
  const size_t a = draw(total_weight, kNoServer);
  if (eligible == 1) return a;
  const size_t b = draw(total_weight - static_cast<uint64_t>(weights_[a]), a);
  return less_loaded(b, a) ? b : a;
}

size_t ServerSelector::draw(uint64_t total_weight, size_t skip) {
  // The modulo's bias is below total_weight / 2^64: nothing to correct.
  uint64_t r = next_random() % total_weight;
  size_t last = kNoServer;
  for (size_t s = 0; s < weights_.size(); ++s) {
    if (eligible_[s] == 0 || s == skip) continue;
    const auto w = static_cast<uint64_t>(weights_[s]);
    if (r < w) return s;
    r -= w;
    last = s;
  }
  return last;  // not reached: the weights add up to total_weight
}

// splitmix64: small, fast, and good enough to spread load.
uint64_t ServerSelector::next_random() {
  uint64_t z = (random_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------- connections

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

UpstreamPool::UpstreamPool(event_base* base, const ResolvedUpstream& upstream, uint64_t seed)
    : base_(base),
      upstream_(upstream),
      servers_(upstream.servers.size()),
      selector_(upstream, seed),
      retry_budget_(upstream.config->retry_budget) {}

UpstreamPool::~UpstreamPool() = default;

std::unique_ptr<UpstreamConnection> UpstreamPool::lease(size_t server, bool fresh, bool* reused) {
  ServerState& st = servers_[server];
  if (!fresh && !st.idle.empty()) {
    std::unique_ptr<UpstreamConnection> conn = std::move(st.idle.back());
    st.idle.pop_back();
    selector_.started(server);
    *reused = true;
    return conn;
  }
  *reused = false;
  int fd = connect_nonblocking(upstream_.servers[server]);
  if (fd < 0) return nullptr;
  selector_.started(server);
  return std::make_unique<UpstreamConnection>(*this, server, fd, false);
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn, bool reusable) {
  ServerState& st = servers_[conn->server()];
  selector_.finished(conn->server());
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
