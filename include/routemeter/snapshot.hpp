// A Snapshot is one loaded configuration compiled for the data path: the
// Config, the Router built from it, every upstream server resolved to a
// socket address and the TLS contexts of its certificates. Immutable; shared
// by all workers as shared_ptr<const Snapshot>. A request keeps the snapshot
// it started with until it ends (reload swaps the worker's pointer, never the
// object).
#pragma once

#include <atomic>
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

namespace routemeter {

// The pool's view of one server's health, shared by all workers (atomics).
// Passive: `unhealthy_after` consecutive connect failures mark it down; a
// down server gets one probe request per health interval while another
// server of its upstream is up (when none is, every request tries them:
// UpstreamPool::pick_server); any response marks it up again.
struct ServerHealth {
  std::atomic<uint32_t> consecutive_failures{0};
  std::atomic<bool> up{true};
  std::atomic<uint64_t> down_since_ns{0};
  std::atomic<uint64_t> last_probe_ns{0};
};

struct ResolvedUpstream {
  const UpstreamConfig* config = nullptr;
  std::vector<SocketAddress> servers;      // same order as config->servers
  std::vector<std::string> server_names;   // "host:port" as configured
  std::unique_ptr<ServerHealth[]> health;  // one per server

  void report_failure(size_t server, uint64_t now_ns) const;
  void report_success(size_t server) const;
  // Whether a request may go to `server` now (up, or due for a probe).
  bool eligible(size_t server, uint64_t now_ns) const;
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
