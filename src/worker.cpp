#include "routemeter/worker.hpp"

#include <malloc.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "routemeter/accept_errors.hpp"
#include "routemeter/client_connection.hpp"
#include "routemeter/log.hpp"
#include "routemeter/net.hpp"
#include "routemeter/transport.hpp"

namespace routemeter {
namespace {

constexpr uint64_t kNotifyDrain = 1;

timeval to_timeval(Duration d) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

EventBasePtr make_base() {
  event_config* cfg = event_config_new();
  // Batch epoll_ctl changes per loop iteration; the base is only ever touched
  // by its own thread (cross-thread requests come through an eventfd).
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  return EventBasePtr(base);
}

}  // namespace

std::atomic<int64_t> Worker::active_connections{0};
std::atomic<int64_t> Worker::body_bytes_all{0};
std::atomic<uint64_t> Worker::total_connections{0};

Worker::Worker(size_t id, std::vector<UniqueFd> listen_fds, std::vector<UniqueFd> tls_fds,
               std::shared_ptr<const Snapshot> snapshot)
    : id_(id), base_(make_base()), listen_fds_(std::move(listen_fds)) {
  const size_t plain = listen_fds_.size();
  for (UniqueFd& fd : tls_fds) listen_fds_.push_back(std::move(fd));
  access_log_ = std::make_unique<AccessLogWriter>(base_.get());
  notify_fd_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  notify_ev_.reset(
      event_new(base_.get(), notify_fd_.get(), EV_READ | EV_PERSIST, &on_notify, this));
  event_add(notify_ev_.get(), nullptr);
  reap_ev_.reset(event_new(base_.get(), -1, 0, &on_reap, this));
  drain_deadline_ev_.reset(evtimer_new(base_.get(), &on_drain_deadline, this));
  accept_backoff_ev_.reset(evtimer_new(base_.get(), &on_accept_backoff, this));
  body_budget_ev_.reset(event_new(base_.get(), -1, 0, &on_body_budget, this));
  trim_ev_.reset(evtimer_new(base_.get(), &on_trim, this));
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    accept_events_.emplace_back(event_new(base_.get(), listen_fds_[i].get(), EV_READ | EV_PERSIST,
                                          i < plain ? &on_accept : &on_accept_tls, this));
  }
  install_runtime(std::move(snapshot));
  set_accepting(true);
}

Worker::~Worker() {
  join();
  connections_.clear();
  access_log_.reset();  // flushes
  runtime_.reset();
}

void Worker::install_runtime(std::shared_ptr<const Snapshot> snapshot) {
  auto rt = std::make_shared<WorkerRuntime>();
  rt->snapshot = std::move(snapshot);
  for (const ResolvedUpstream& up : rt->snapshot->upstreams()) {
    // Each worker's random_two draws its own sequence (UpstreamPool's seed).
    const uint64_t seed = ((id_ + 1) << 32) + rt->pools.size() + 1;
    rt->pools.push_back(std::make_unique<UpstreamPool>(base_.get(), up, seed));
    timeval tv = to_timeval(up.config->connect_timeout);
    rt->connect_timeouts.push_back(event_base_init_common_timeout(base_.get(), &tv));
    tv = to_timeval(up.config->response_timeout);
    rt->response_timeouts.push_back(event_base_init_common_timeout(base_.get(), &tv));
  }
  {
    const timeval tv = to_timeval(rt->snapshot->config().server.tunnel_idle_timeout);
    rt->tunnel_idle_timeout = event_base_init_common_timeout(base_.get(), &tv);
  }
  if (runtime_) {
    // Idle connections of the old pools go now; leased ones go with their
    // requests, which keep the old runtime alive until they end.
    for (auto& pool : runtime_->pools) pool->close_idle();
  }
  runtime_ = std::move(rt);
  const ServerConfig& sc = server_config();
  timeval tv = to_timeval(sc.keepalive_timeout);
  keepalive_tv_ = event_base_init_common_timeout(base_.get(), &tv);
  tv = to_timeval(sc.client_header_timeout);
  header_tv_ = event_base_init_common_timeout(base_.get(), &tv);
  tv = to_timeval(sc.client_body_timeout);
  body_tv_ = event_base_init_common_timeout(base_.get(), &tv);
  if (const auto& tls = runtime_->snapshot->config().tls) {
    tv = to_timeval(tls->handshake_timeout);
    handshake_tv_ = event_base_init_common_timeout(base_.get(), &tv);
  }
  const uint64_t workers = std::max<uint64_t>(1, sc.workers);
  max_connections_ = std::max<uint64_t>(1, sc.max_connections / workers);
  body_budget_ = std::max<uint64_t>(Exchange::kBodyWindow, kBodyBudget / workers);
}

void Worker::start() {
  thread_ = std::thread([this] {
    event_base_dispatch(base_.get());
    stopped_.store(true, std::memory_order_release);
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::request_drain() {
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    pending_drain_ = true;
  }
  uint64_t one = kNotifyDrain;
  [[maybe_unused]] ssize_t n = write(notify_fd_.get(), &one, sizeof one);
}

void Worker::request_snapshot(std::shared_ptr<const Snapshot> snapshot) {
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    pending_snapshot_ = std::move(snapshot);
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(notify_fd_.get(), &one, sizeof one);
}

void Worker::on_notify(evutil_socket_t fd, short, void* arg) {
  uint64_t value;
  [[maybe_unused]] ssize_t n = read(fd, &value, sizeof value);
  static_cast<Worker*>(arg)->handle_notify();
}

void Worker::handle_notify() {
  bool drain;
  std::shared_ptr<const Snapshot> snapshot;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    drain = pending_drain_;
    pending_drain_ = false;
    snapshot = std::move(pending_snapshot_);
  }
  if (snapshot) install_runtime(std::move(snapshot));
  if (drain) begin_drain();
}

void Worker::set_accepting(bool on) {
  if (on == accepting_ || draining_) return;
  accepting_ = on;
  for (EventPtr& ev : accept_events_) {
    if (on) {
      event_add(ev.get(), nullptr);
    } else {
      event_del(ev.get());
    }
  }
}

void Worker::on_accept(evutil_socket_t fd, short, void* arg) {
  static_cast<Worker*>(arg)->accept_ready(fd, false);
}

void Worker::on_accept_tls(evutil_socket_t fd, short, void* arg) {
  static_cast<Worker*>(arg)->accept_ready(fd, true);
}

void Worker::accept_ready(int listen_fd, bool tls) {
  // Bounded: at most 64 accepts per wake-up so one busy listener can't starve
  // the connections already open.
  for (int i = 0; i < 64 && accepting_; ++i) {
    if (connections_.size() >= max_connections_) {
      set_accepting(false);  // new connections wait in the backlog
      return;
    }
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd =
        accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (!accept_error_retriable(errno)) accept_failed(errno);
      return;  // EAGAIN: all accepted; ECONNABORTED...: on the next wake-up
    }
    tune_socket(fd);
    std::unique_ptr<Transport> transport;
    if (tls) {
      // The current snapshot's certificates; a reload's new ones serve the
      // handshakes that start after it. (A reload that removed [tls] leaves
      // the listener bound until a restart, serving nothing.)
      if (runtime_->snapshot->tls())
        transport = TlsTransport::create(runtime_->snapshot->tls(), fd);
    } else {
      transport = std::make_unique<PlainTransport>(fd);
    }
    if (!transport) {
      ::close(fd);
      continue;
    }
    auto conn = std::make_unique<ClientConnection>(*this, fd, peer_ip(peer), std::move(transport));
    ClientConnection* raw = conn.get();
    connections_.push_back(std::move(conn));
    active_connections.fetch_add(1, std::memory_order_relaxed);
    total_connections.fetch_add(1, std::memory_order_relaxed);
    raw->start();
  }
}

void Worker::accept_failed(int err) {
  // Out of descriptors (or memory): the listening socket stays readable, so
  // trying again at once would spin. Pause accepting; a connection closing
  // in the meantime resumes it sooner (on_reap), the timer otherwise.
  if (MetricsBinding* m = runtime_->snapshot->metrics()) {
    m->count_accept_error(AcceptListener::kProxy, err);
  }
  log_accept_error(AcceptListener::kProxy, err);
  set_accepting(false);
  const timeval tv = to_timeval(kAcceptBackoff);
  evtimer_add(accept_backoff_ev_.get(), &tv);
}

void Worker::on_accept_backoff(evutil_socket_t, short, void* arg) {
  static_cast<Worker*>(arg)->resume_accepting();
}

void Worker::resume_accepting() {
  if (connections_.size() < max_connections_) set_accepting(true);
}

void Worker::begin(const Snapshot& snapshot, RequestRecord& rec) {
  if (MetricsBinding* m = snapshot.metrics()) m->begin(id_, rec);
}

void Worker::record(const Snapshot& snapshot, const RequestRecord& rec,
                    const AccessLogFields* fields) {
  if (MetricsBinding* m = snapshot.metrics()) m->record(id_, rec);
  if (AccessLogSink* sink = snapshot.access_log(); sink != nullptr && fields != nullptr) {
    access_log_->write(*sink, snapshot, rec, *fields);
  }
}

void Worker::tunnel_opened(const Snapshot& snapshot, const RequestRecord& rec) {
  if (MetricsBinding* m = snapshot.metrics()) m->tunnel_opened(rec);
}

void Worker::tunnel_closed(const Snapshot& snapshot, const RequestRecord& rec) {
  if (MetricsBinding* m = snapshot.metrics()) m->tunnel_closed(rec);
}

void Worker::tunnel_bytes(const Snapshot& snapshot, const RequestRecord& rec, uint64_t from_client,
                          uint64_t to_client) {
  if (MetricsBinding* m = snapshot.metrics()) m->tunnel_bytes(rec, from_client, to_client);
}

void Worker::retire(ClientConnection* conn) {
  retired_.push_back(conn);
  event_active(reap_ev_.get(), EV_TIMEOUT, 0);
}

void Worker::add_body_bytes(int64_t delta) {
  body_bytes_ = static_cast<uint64_t>(static_cast<int64_t>(body_bytes_) + delta);
  body_peak_ = std::max(body_peak_, body_bytes_);
  body_bytes_all.fetch_add(delta, std::memory_order_relaxed);
  if (body_bytes_ == 0 && body_peak_ >= kTrimAfter) {
    // Many bodies were held and none is now. malloc keeps what they freed in
    // its arenas (the buffers are below its mmap threshold), so the RSS would
    // stay at the peak: give it back, once per such peak.
    // A second later: the connections that held them are freed by then.
    body_peak_ = 0;
    const timeval later{1, 0};
    evtimer_add(trim_ev_.get(), &later);
  }
  if (delta < 0 && body_bytes_ < body_budget_ && !body_waiters_.empty()) {
    event_active(body_budget_ev_.get(), EV_TIMEOUT, 0);  // not from inside the caller
  }
}

void Worker::wait_for_body_budget(ClientConnection* conn) {
  if (std::find(body_waiters_.begin(), body_waiters_.end(), conn) == body_waiters_.end()) {
    body_waiters_.push_back(conn);
  }
}

void Worker::forget_body_waiter(ClientConnection* conn) {
  auto it = std::find(body_waiters_.begin(), body_waiters_.end(), conn);
  if (it != body_waiters_.end()) body_waiters_.erase(it);
}

void Worker::on_trim(evutil_socket_t, short, void*) { malloc_trim(0); }

void Worker::on_body_budget(evutil_socket_t, short, void* arg) {
  static_cast<Worker*>(arg)->wake_body_waiters();
}

void Worker::wake_body_waiters() {
  // First come, first served; a waiter that finds the budget spent again
  // puts itself back in line.
  std::vector<ClientConnection*> waiting;
  waiting.swap(body_waiters_);
  for (ClientConnection* conn : waiting) {
    if (!body_budget_left()) {
      body_waiters_.push_back(conn);
      continue;
    }
    conn->resume_body();
  }
}

void Worker::on_reap(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  auto& conns = self->connections_;
  for (ClientConnection* dead : self->retired_) {
    auto it =
        std::find_if(conns.begin(), conns.end(), [dead](const auto& p) { return p.get() == dead; });
    if (it != conns.end()) {
      std::swap(*it, conns.back());
      conns.pop_back();
      active_connections.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  self->retired_.clear();
  if (self->draining_) {
    self->maybe_finish_drain();
  } else if (!self->accepting_ && conns.size() < self->max_connections_) {
    self->set_accepting(true);
  }
}

void Worker::begin_drain() {
  if (draining_) return;
  set_accepting(false);
  draining_ = true;
  accept_events_.clear();
  listen_fds_.clear();
  for (auto& conn : connections_) conn->drain();
  for (auto& pool : runtime_->pools) pool->close_idle();
  timeval tv = to_timeval(server_config().drain_timeout);
  evtimer_add(drain_deadline_ev_.get(), &tv);
  maybe_finish_drain();
}

void Worker::maybe_finish_drain() {
  size_t live = 0;
  for (auto& conn : connections_) live += conn->closed() ? 0 : 1;
  if (live == 0) event_base_loopexit(base_.get(), nullptr);
}

void Worker::on_drain_deadline(evutil_socket_t, short, void* arg) {
  // drain_timeout passed: whatever is still in flight is cut off.
  event_base_loopbreak(static_cast<Worker*>(arg)->base_.get());
}

}  // namespace routemeter
