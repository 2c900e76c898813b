#include "routemeter/snapshot.hpp"

#include <algorithm>

namespace routemeter {

std::shared_ptr<const Snapshot> Snapshot::build(std::shared_ptr<const Config> config,
                                                Metrics* metrics,
                                                std::shared_ptr<AccessLogSink> access_log,
                                                std::string* error) {
  std::shared_ptr<Snapshot> snap(new Snapshot());
  snap->access_log_ = std::move(access_log);
  snap->config_ = std::move(config);
  for (const UpstreamConfig& up : snap->config_->upstreams) {
    ResolvedUpstream resolved;
    resolved.config = &up;
    resolved.health = std::make_unique<ServerHealth[]>(up.servers.size());
    for (const HostPort& server : up.servers) {
      auto addr = resolve(server, error);
      if (!addr) {
        if (error) *error = "upstream \"" + up.name + "\": " + *error;
        return nullptr;
      }
      resolved.servers.push_back(*addr);
      resolved.server_names.push_back(server.text());
    }
    snap->upstreams_.push_back(std::move(resolved));
  }
  if (snap->config_->tls) {
    snap->tls_ = TlsContext::build(*snap->config_->tls, error);
    if (!snap->tls_) return nullptr;
  }
  snap->router_ = std::make_unique<Router>(*snap->config_);
  if (metrics != nullptr) {
    snap->metrics_ = std::make_unique<MetricsBinding>(*metrics, *snap->config_);
  }
  return snap;
}

void ResolvedUpstream::report_failure(size_t server, uint64_t now_ns) const {
  ServerHealth& h = health[server];
  uint32_t n = h.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n >= config->health.unhealthy_after && h.up.exchange(false, std::memory_order_relaxed)) {
    h.down_since_ns.store(now_ns, std::memory_order_relaxed);
  }
}

void ResolvedUpstream::report_success(size_t server) const {
  ServerHealth& h = health[server];
  if (h.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    h.consecutive_failures.store(0, std::memory_order_relaxed);
  }
  if (!h.up.load(std::memory_order_relaxed)) h.up.store(true, std::memory_order_relaxed);
}

bool ResolvedUpstream::eligible(size_t server, uint64_t now_ns) const {
  ServerHealth& h = health[server];
  if (h.up.load(std::memory_order_relaxed)) return true;
  const uint64_t interval = static_cast<uint64_t>(config->health.interval.count()) * 1000000ull;
  uint64_t last = h.last_probe_ns.load(std::memory_order_relaxed);
  if (now_ns - std::max(last, h.down_since_ns.load(std::memory_order_relaxed)) < interval) {
    return false;
  }
  // One probe per interval across all workers.
  return h.last_probe_ns.compare_exchange_strong(last, now_ns, std::memory_order_relaxed);
}

}  // namespace routemeter
