// A Snapshot is one loaded configuration compiled for the data path: the
// Config, the Router built from it, every upstream server resolved to a
// socket address and the TLS contexts of its certificates. Immutable; shared
// by all workers as shared_ptr<const Snapshot>. A request keeps the snapshot
// it started with until it ends (reload swaps the worker's pointer, never the
// object).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "routemeter/access_log.hpp"
#include "routemeter/config.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/net.hpp"
#include "routemeter/router.hpp"
#include "routemeter/tls_context.hpp"
#include "routemeter/upstream_pool.hpp"

namespace routemeter {

struct ResolvedUpstream {
  const UpstreamConfig* config = nullptr;
  std::vector<SocketAddress> servers;      // same order as config->servers
  std::vector<std::string> server_names;   // "host:port" as configured
  std::unique_ptr<ServerHealth[]> health;  // one per server (upstream_pool.hpp), all threads
  // routemeter_upstream_ejections_total per server ([upstream.outlier] and
  // metrics only; else empty). Counted by whichever worker ejects.
  std::vector<prometheus::Counter*> ejections;
  // Held (never waited for) while a worker decides an ejection, so that
  // max_ejection_percent holds across workers.
  std::unique_ptr<std::atomic<bool>> ejecting = std::make_unique<std::atomic<bool>>(false);

  // The passive side of the servers' health, for the workers' exchanges:
  // a failed connect, an answer (ServerHealth::connect_failed, answered).
  void report_failure(size_t server, uint64_t now_ns) const;
  void report_success(size_t server) const;
  // The server's final response head had `status`: report_success, and for
  // [upstream.outlier] a 5xx adds to its run of failures (maybe ejecting
  // it), anything else ends the run.
  void report_answer(size_t server, int status) const;
  // Whether `server` is ejected at `now_ns` (for server_up).
  bool ejected(size_t server, uint64_t now_ns) const { return health[server].ejected(now_ns); }
  // Whether a request may go to `server` now: up, or only passively down and
  // due a trial request (which this claims).
  bool eligible(size_t server, uint64_t now_ns) const;

 private:
  // A 5xx or a failed connect of `server` for [upstream.outlier]: ejects it
  // once its run reaches consecutive_failures, unless max_ejection_percent
  // of the servers are out already.
  void outlier_failure(size_t server, uint64_t now_ns) const;
};

class Snapshot {
 public:
  // Resolves every server and, with `metrics`, every metric handle the data
  // path needs; on failure returns nullptr and sets `error`.
  // `access_log` (may be null: off) is where this config's access log goes.
  static std::shared_ptr<const Snapshot> build(std::shared_ptr<const Config> config,
                                               Metrics* metrics,
                                               std::shared_ptr<AccessLogSink> access_log,
                                               std::string* error);

  const Config& config() const { return *config_; }
  const Router& router() const { return *router_; }
  const std::vector<ResolvedUpstream>& upstreams() const { return upstreams_; }
  // A reload: each server that `old` has too (same upstream name, same
  // "host:port") starts in the health `old` sees now, so a server that is
  // down stays down. Call on the thread that runs the health checks, before
  // this snapshot's checks start.
  void inherit_health(const Snapshot& old) const;
  // nullptr when built without metrics (unit tests).
  MetricsBinding* metrics() const { return metrics_.get(); }
  AccessLogSink* access_log() const { return access_log_.get(); }
  // The TLS contexts of [tls], built with the snapshot (a reload builds new
  // ones); null without [tls]. A TLS connection holds the shared_ptr of the
  // context it started with.
  const std::shared_ptr<const TlsContext>& tls() const { return tls_; }

 private:
  Snapshot() = default;
  std::shared_ptr<const Config> config_;
  std::unique_ptr<Router> router_;
  std::vector<ResolvedUpstream> upstreams_;
  std::unique_ptr<MetricsBinding> metrics_;
  std::shared_ptr<AccessLogSink> access_log_;
  std::shared_ptr<const TlsContext> tls_;
};

}  // namespace routemeter
