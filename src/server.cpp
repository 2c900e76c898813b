#include "routemeter/server.hpp"

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "routemeter/build_info.hpp"
#include "routemeter/cardinality.hpp"
#include "routemeter/collectors.hpp"
#include "routemeter/json.hpp"
#include "routemeter/log.hpp"
#include "routemeter/net.hpp"
#include "routemeter/server_collectors.hpp"
#include "routemeter/slo.hpp"

namespace routemeter {
namespace {

constexpr int kBacklog = 4096;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

size_t worker_count(const Config& config) {
  if (config.server.workers != 0) return config.server.workers;
  return std::max(1u, std::thread::hardware_concurrency());
}

// What a reload cannot change while running; applied on the next restart.
std::string restart_only_changes(const Config& old_c, const Config& new_c) {
  std::string notes;
  auto note = [&notes](const char* what) {
    notes += notes.empty() ? "" : "; ";
    notes += what;
  };
  if (old_c.server.listen != new_c.server.listen) note("server.listen");
  if (worker_count(old_c) != worker_count(new_c)) note("server.workers");
  if (!(old_c.admin.listen == new_c.admin.listen)) note("admin.listen");
  if (old_c.admin.status_interval != new_c.admin.status_interval) note("admin.status_interval");
  const std::vector<HostPort> no_tls;
  if ((old_c.tls ? old_c.tls->listen : no_tls) != (new_c.tls ? new_c.tls->listen : no_tls)) {
    note("tls.listen");
  }
  if (old_c.metrics.name_space != new_c.metrics.name_space ||
      old_c.metrics.histogram_buckets != new_c.metrics.histogram_buckets ||
      old_c.metrics.summary_quantiles != new_c.metrics.summary_quantiles ||
      old_c.metrics.summary_max_age != new_c.metrics.summary_max_age ||
      old_c.metrics.summary_age_buckets != new_c.metrics.summary_age_buckets ||
      old_c.metrics.top_paths != new_c.metrics.top_paths ||
      old_c.metrics.max_series != new_c.metrics.max_series ||
      old_c.metrics.exemplars != new_c.metrics.exemplars) {
    note("[metrics]");
  }
  if (!notes.empty()) notes = "changed but applied only on restart: " + notes;
  return notes;
}

}  // namespace

Server::Server(std::string config_path) : config_path_(std::move(config_path)) {}

Server::~Server() {
  // The push thread first (it renders the metrics), then the workers (they
  // hold snapshots), then the snapshot, whose metric bindings release their
  // series in metrics_.
  pusher_.reset();
  workers_.clear();
  health_checker_.reset();
  status_ev_.reset();
  admin_.reset();
  snapshot_.reset();
}

std::shared_ptr<const Snapshot> Server::current_snapshot() const {
  std::lock_guard<std::mutex> lock(snapshot_mu_);
  return snapshot_;
}

void Server::configure_push(const Config& config) {
  if (!config.push) {
    if (pusher_) pusher_->configure(std::nullopt);
    return;
  }
  if (!pusher_) {
    pusher_ = std::make_unique<Pusher>(metrics_->push_total, [this] { return metrics_->render(); });
    pusher_->configure(config.push);
    pusher_->start();
    return;
  }
  pusher_->configure(config.push);
}

bool Server::bind_listeners(const Config& config, size_t workers, std::string* error) {
  worker_fds_.clear();
  worker_fds_.resize(workers);
  worker_tls_fds_.clear();
  worker_tls_fds_.resize(workers);
  // The first bind fixes the port (it may be 0: ephemeral); every other
  // worker binds the same port with SO_REUSEPORT and gets its own queue.
  const auto bind_all = [&](const std::vector<HostPort>& listen,
                            std::vector<std::vector<UniqueFd>>& fds,
                            std::vector<std::string>& addresses) {
    for (const HostPort& hp : listen) {
      auto addr = resolve(hp, error);
      if (!addr) return false;
      for (size_t w = 0; w < workers; ++w) {
        UniqueFd fd = listen_socket(*addr, kBacklog, error);
        if (!fd) return false;
        if (w == 0) {
          auto bound = local_address(fd.get());
          if (!bound) return false;
          addr = bound;
          addresses.push_back(bound->text());
        }
        fds[w].push_back(std::move(fd));
      }
    }
    return true;
  };
  if (!bind_all(config.server.listen, worker_fds_, proxy_addresses_)) return false;
  return !config.tls || bind_all(config.tls->listen, worker_tls_fds_, tls_addresses_);
}

bool Server::bind_admin(const Config& config, std::string* error) {
  auto addr = resolve(config.admin.listen, error);
  if (!addr) return false;
  UniqueFd fd = listen_socket(*addr, 128, error);
  if (!fd) return false;
  auto bound = local_address(fd.get());
  admin_ = std::make_unique<AdminServer>(base_.get());
  admin_->set_token(config.admin.token);
  admin_->set_accept_error_counter([this](int err) {
    if (metrics_) metrics_->count_accept_error(AcceptListener::kAdmin, err);
  });
  if (!bound || !admin_->serve(std::move(fd))) {
    if (error) *error = "admin listener: cannot accept on " + config.admin.listen.text();
    return false;
  }
  admin_address_ = bound->text();
  for (AdminEndpoint& e : admin_endpoints(*this)) admin_->add(std::move(e));
  return true;
}

std::string Server::render_metrics(Exposition format) const { return metrics_->render(format); }

void Server::start_status(const Config& config) {
  status_ = std::make_unique<StatusHistory>(config.admin.status_interval);
  const StatusReading reading = read_status(*metrics_);
  status_->set_rows(status_rows(config), reading);
  status_->tick(reading, unix_now(), static_cast<double>(monotonic_ns()) * 1e-9);
  status_ev_.reset(event_new(
      base_.get(), -1, EV_PERSIST,
      [](evutil_socket_t, short, void* arg) { static_cast<Server*>(arg)->status_tick(); }, this));
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(config.admin.status_interval);
  const timeval tv{static_cast<time_t>(us.count() / 1000000),
                   static_cast<suseconds_t>(us.count() % 1000000)};
  event_add(status_ev_.get(), &tv);
}

void Server::status_tick() {
  status_->tick(read_status(*metrics_), unix_now(), static_cast<double>(monotonic_ns()) * 1e-9);
}

std::string Server::status_json() const {
  return status_->json(read_status(*metrics_), unix_now());
}

std::string Server::config_json() const { return config_to_json(snapshot_->config()); }

AdminResponse Server::debug_paths(std::string_view route) const {
  constexpr const char* kJson = "application/json";
  MetricsBinding* binding = snapshot_->metrics();
  const size_t limit = metrics_->top_paths().top_paths();
  if (binding == nullptr || limit == 0) {
    return {404, kJson, "{\"error\": \"top paths are off ([metrics] top_paths = 0)\"}\n"};
  }
  std::vector<TopPathsRoute> routes = binding->top_paths_routes();
  if (!route.empty()) {
    std::erase_if(routes, [route](const TopPathsRoute& r) { return r.route != route; });
    if (routes.empty()) {
      std::string body = "{\"error\": ";
      append_json_string(body, "no route \"" + std::string(route) + "\"");
      return {404, kJson, body + "}\n"};
    }
  }
  return {200, kJson, top_paths_json(routes, limit, monotonic_ns())};
}

std::shared_ptr<const Snapshot> Server::load_snapshot(std::vector<std::string>* errors) {
  ConfigLoadResult loaded = load_config_file(config_path_);
  for (const ConfigError& w : loaded.warnings) log(LogLevel::kWarn, w.to_string());
  if (!loaded.ok()) {
    for (const ConfigError& e : loaded.errors) errors->push_back(e.to_string());
    return nullptr;
  }
  // The series bound, with the [metrics] the process runs with (a reload
  // does not change them: restart_only_changes).
  {
    Config effective = *loaded.config;
    if (metrics_) effective.metrics = metrics_->config();
    if (auto too_many = check_series_bound(effective)) {
      errors->push_back(too_many->to_string());
      return nullptr;
    }
  }
  // The first load lays out the metrics; [metrics] and the worker count only
  // change on restart (restart_only_changes).
  if (!metrics_) {
    metrics_ = std::make_unique<Metrics>(loaded.config->metrics, worker_count(*loaded.config));
  }
  std::string error;
  std::shared_ptr<AccessLogSink> sink = access_log_for(loaded.config->log, &error);
  std::shared_ptr<const Snapshot> snap;
  if (error.empty()) {
    snap =
        Snapshot::build(loaded.config, bench_no_metrics_ ? nullptr : metrics_.get(), sink, &error);
  }
  if (!snap) errors->push_back(config_path_ + ": " + error);
  return snap;
}

int Server::run() {
  // Benchmarking only (scripts/bench.sh measures what metrics cost): the
  // data path records nothing. Not a configuration option.
  bench_no_metrics_ = std::getenv("ROUTEMETER_BENCH_NO_METRICS") != nullptr;
  std::vector<std::string> errors;
  {
    std::shared_ptr<const Snapshot> first = load_snapshot(&errors);
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    snapshot_ = std::move(first);
  }
  if (!snapshot_) {
    for (const std::string& e : errors) log_error(e);
    return 1;
  }
  const Config& config = snapshot_->config();
  set_log_level(config.log.level);
  const size_t workers = worker_count(config);
  const std::string& ns = config.metrics.name_space;
  collectors_.push_back(std::make_shared<ConnectionsCollector>(ns));
  collectors_.push_back(std::make_shared<ProcessCollector>());
  collectors_.push_back(
      std::make_shared<BuildInfoCollector>(ns, build::kVersion, build::kRevision));
  collectors_.push_back(
      std::make_shared<ServerUpCollector>(ns, [this] { return current_snapshot(); }));
  collectors_.push_back(
      std::make_shared<TlsExpiryCollector>(ns, [this] { return current_snapshot(); }));
  collectors_.push_back(std::make_shared<SloCollector>(ns, [this] { return current_snapshot(); }));
  for (auto& c : collectors_) metrics_->add_collectable(c);
  metrics_->config_last_reload_successful.Add({}).Set(1);
  metrics_->config_last_reload_success_timestamp.Add({}).Set(unix_now());
  metrics_->config_reloads_total.Add({{"result", "success"}});
  metrics_->config_reloads_total.Add({{"result", "failure"}});

  base_.reset(event_base_new());
  std::string error;
  if (!bind_listeners(config, workers, &error) || !bind_admin(config, &error)) {
    log_error(error);
    return 1;
  }
  for (int signo : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    signal_events_.emplace_back(evsignal_new(
        base_.get(), signo,
        [](evutil_socket_t sig, short, void* arg) {
          static_cast<Server*>(arg)->on_signal(static_cast<int>(sig));
        },
        this));
    event_add(signal_events_.back().get(), nullptr);
  }
  for (size_t w = 0; w < workers; ++w) {
    workers_.push_back(std::make_unique<Worker>(w, std::move(worker_fds_[w]),
                                                std::move(worker_tls_fds_[w]), snapshot_));
  }
  restart_health_checks();
  start_status(config);
  for (auto& w : workers_) w->start();
  // After every collector is added: the push thread renders from now on.
  configure_push(config);

  std::string proxies;
  for (const std::string& a : proxy_addresses_) proxies += (proxies.empty() ? "" : ",") + a;
  std::string tls;
  for (const std::string& a : tls_addresses_) tls += (tls.empty() ? " tls=" : ",") + a;
  log_info("listening proxy=" + proxies + " admin=" + admin_address_ +
           " workers=" + std::to_string(workers) + tls);
  sd_notify(0, "READY=1\nSTATUS=serving");
  event_base_dispatch(base_.get());
  for (auto& w : workers_) w->join();
  if (pusher_) {
    // Drained: the last push has every request counted.
    pusher_->stop(true);
    log_info("pushed the final metrics");
  }
  log_info("stopped");
  return 0;
}

Server::ReloadResult Server::reload() {
  sd_notify(0, "RELOADING=1");
  ReloadResult result;
  std::vector<std::string> errors;
  std::shared_ptr<const Snapshot> snap = load_snapshot(&errors);
  if (!snap) {
    for (const std::string& e : errors) {
      result.message += (result.message.empty() ? "" : "\n") + e;
    }
    metrics_->config_last_reload_successful.Add({}).Set(0);
    metrics_->config_reloads_total.Add({{"result", "failure"}}).Increment();
    log_error("reload failed, old config kept: " + result.message);
    sd_notify(0, "READY=1\nSTATUS=serving (last reload failed)");
    return result;
  }
  result.ok = true;
  result.message = restart_only_changes(snapshot_->config(), snap->config());
  // The old checks stop before their results are carried over, so the new
  // snapshot starts from each server's last known health.
  health_checker_.reset();
  snap->inherit_health(*snapshot_);
  {
    std::lock_guard<std::mutex> lock(snapshot_mu_);
    snapshot_ = snap;
  }
  restart_health_checks();
  // Before the workers switch: a new row's counters are still at zero.
  status_->set_rows(status_rows(snap->config()), read_status(*metrics_));
  configure_push(snap->config());
  set_log_level(snap->config().log.level);
  admin_->set_token(snap->config().admin.token);
  for (auto& w : workers_) w->request_snapshot(snap);
  metrics_->config_last_reload_successful.Add({}).Set(1);
  metrics_->config_last_reload_success_timestamp.Add({}).Set(unix_now());
  metrics_->config_reloads_total.Add({{"result", "success"}}).Increment();
  log_info("config reloaded from " + config_path_ +
           (result.message.empty() ? "" : " (" + result.message + ")"));
  sd_notify(0, "READY=1\nSTATUS=serving");
  return result;
}

std::shared_ptr<AccessLogSink> Server::access_log_for(const LogConfig& log, std::string* error) {
  error->clear();
  if (log.access == "off") return nullptr;
  // The same target keeps its sink (and fd) across reloads.
  for (auto& sink : access_logs_) {
    if (sink->target() == log.access && sink->format() == log.format) return sink;
  }
  auto sink = AccessLogSink::open(log, error);
  if (sink) access_logs_.push_back(sink);
  return sink;
}

void Server::restart_health_checks() {
  health_checker_.reset();
  health_checker_ = std::make_unique<HealthChecker>(base_.get(), snapshot_);
  health_checker_->start();
}

void Server::on_signal(int signo) {
  if (signo == SIGHUP) {
    reload();
    return;
  }
  if (signo == SIGUSR1) {
    for (auto& sink : access_logs_) {
      std::string error;
      if (!sink->reopen(&error)) log_error(error);
    }
    log_info("access log reopened");
    return;
  }
  begin_drain();
}

void Server::begin_drain() {
  if (draining_) return;
  draining_ = true;
  sd_notify(0, "STOPPING=1");
  log_info("draining: no new connections, finishing in-flight requests");
  for (auto& w : workers_) w->request_drain();
  // The admin listener stays up while draining (/readyz answers 503); the
  // loop ends once every worker has returned.
  poll_ev_.reset(event_new(
      base_.get(), -1, EV_PERSIST,
      [](evutil_socket_t, short, void* arg) { static_cast<Server*>(arg)->poll_workers(); }, this));
  timeval tv{0, 20 * 1000};
  event_add(poll_ev_.get(), &tv);
}

void Server::poll_workers() {
  for (auto& w : workers_) {
    if (!w->stopped()) return;
  }
  event_base_loopexit(base_.get(), nullptr);
}

}  // namespace routemeter
