#include "routemeter/snapshot.hpp"

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
    for (size_t u = 0; u < snap->upstreams_.size(); ++u) {
      snap->upstreams_[u].ejections = snap->metrics_->ejections(u);
    }
  }
  return snap;
}

void Snapshot::inherit_health(const Snapshot& old) const {
  for (const ResolvedUpstream& up : upstreams_) {
    for (const ResolvedUpstream& was : old.upstreams_) {
      if (was.config->name != up.config->name) continue;
      const bool active = up.config->health.enabled && was.config->health.enabled;
      for (size_t s = 0; s < up.server_names.size(); ++s) {
        for (size_t t = 0; t < was.server_names.size(); ++t) {
          if (was.server_names[t] == up.server_names[s])
            up.health[s].inherit(was.health[t], active);
        }
      }
    }
  }
}

void ResolvedUpstream::report_failure(size_t server, uint64_t now_ns) const {
  health[server].connect_failed(now_ns, config->health.unhealthy_after);
  outlier_failure(server, now_ns);
}

void ResolvedUpstream::report_success(size_t server) const { health[server].answered(); }

void ResolvedUpstream::report_answer(size_t server, int status) const {
  health[server].answered();
  if (!config->outlier.enabled) return;
  if (status >= 500) {
    outlier_failure(server, monotonic_ns());
  } else {
    health[server].outlier_succeeded();
  }
}

void ResolvedUpstream::outlier_failure(size_t server, uint64_t now_ns) const {
  const OutlierConfig& outlier = config->outlier;
  ServerHealth& h = health[server];
  if (!outlier.enabled || !h.outlier_failed(outlier.consecutive_failures) || h.ejected(now_ns)) {
    return;
  }
  // Another worker deciding an ejection right now: skip; the next failure
  // of this server tries again.
  if (ejecting->exchange(true, std::memory_order_acquire)) return;
  size_t out = 0;
  for (size_t s = 0; s < servers.size(); ++s) out += health[s].ejected(now_ns) ? 1 : 0;
  const size_t allowed = servers.size() * outlier.max_ejection_percent / 100;
  if (out < allowed) {
    const auto base_ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(outlier.base_ejection_time).count());
    h.eject(now_ns, base_ns);
    if (!ejections.empty()) ejections[server]->Increment();
  }
  ejecting->store(false, std::memory_order_release);
}

bool ResolvedUpstream::eligible(size_t server, uint64_t now_ns) const {
  ServerHealth& h = health[server];
  if (h.ejected(now_ns)) return false;
  const uint32_t down = h.down_reasons();
  if (down == 0) return true;
  const uint64_t interval = static_cast<uint64_t>(config->health.interval.count()) * 1000000ull;
  return down == ServerHealth::kPassiveDown && h.claim_trial(now_ns, interval);
}

}  // namespace routemeter
