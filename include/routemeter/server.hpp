// The Server is routemeter's main thread: it loads the config, binds the
// proxy listeners (one SO_REUSEPORT socket per worker and address) and the
// admin listener, starts the workers, handles signals (SIGTERM/SIGINT drain,
// SIGHUP reload), serves the admin endpoints and runs the active health
// checks (HealthChecker) on its event loop. Created and run by main();
// every member runs on the main thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "routemeter/admin.hpp"
#include "routemeter/config.hpp"
#include "routemeter/event_handles.hpp"
#include "routemeter/health_checker.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/pusher.hpp"
#include "routemeter/snapshot.hpp"
#include "routemeter/status_history.hpp"
#include "routemeter/worker.hpp"

namespace routemeter {

class Server final : public AdminDelegate {
 public:
  explicit Server(std::string config_path);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the config, binds, serves until drained. Returns the exit code.
  int run();

  // Re-reads the config file; on success every worker switches to it for new
  // requests. On failure the old config stays. (AdminDelegate::ReloadResult:
  // ok, and the errors or what needs a restart.)
  ReloadResult reload() override;

  // The rest of AdminDelegate, for the admin endpoints.
  std::string render_metrics(Exposition format) const override;
  bool draining() const override { return draining_; }
  std::string config_json() const override;
  AdminResponse debug_paths(std::string_view route) const override;
  std::string status_json() const override;

 private:
  bool bind_listeners(const Config& config, size_t workers, std::string* error);
  bool bind_admin(const Config& config, std::string* error);
  // The one load-and-build path of run() and reload(): reads the config file,
  // opens (or keeps) its access log and builds the snapshot. The first call
  // also creates metrics_. On failure returns nullptr and appends one line per
  // problem to `errors`.
  std::shared_ptr<const Snapshot> load_snapshot(std::vector<std::string>* errors);
  // Stops the running health checks and starts those of snapshot_.
  void restart_health_checks();
  // The /status history and its timer (every [admin] status_interval).
  void start_status(const Config& config);
  void status_tick();
  void on_signal(int signo);
  void begin_drain();
  void poll_workers();
  std::shared_ptr<AccessLogSink> access_log_for(const LogConfig& log, std::string* error);
  // snapshot_ for the threads that are not the main thread (the push
  // thread renders the metrics, whose collectors read it).
  std::shared_ptr<const Snapshot> current_snapshot() const;
  void configure_push(const Config& config);

  std::string config_path_;
  std::unique_ptr<Metrics> metrics_;          // outlives every snapshot (declared first)
  std::shared_ptr<const Snapshot> snapshot_;  // written on the main thread under snapshot_mu_
  mutable std::mutex snapshot_mu_;
  std::vector<std::shared_ptr<AccessLogSink>> access_logs_;  // every sink ever used
  std::vector<std::shared_ptr<prometheus::Collectable>> collectors_;
  EventBasePtr base_;
  // The current snapshot's active health checks, on base_ (gone before it).
  std::unique_ptr<HealthChecker> health_checker_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<StatusHistory> status_;  // rows follow the snapshot (reload: set_rows)
  EventPtr status_ev_;                     // status_'s timer on base_
  std::vector<EventPtr> signal_events_;
  EventPtr poll_ev_;
  std::vector<std::vector<UniqueFd>> worker_fds_;      // [worker][listener]
  std::vector<std::vector<UniqueFd>> worker_tls_fds_;  // [worker][TLS listener]
  std::vector<std::string> proxy_addresses_;
  std::vector<std::string> tls_addresses_;
  std::string admin_address_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<Pusher> pusher_;  // created with the first [push]; stopped before metrics_ goes
  bool draining_ = false;
  bool bench_no_metrics_ = false;
};

}  // namespace routemeter
