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
}

void ResolvedUpstream::report_success(size_t server) const { health[server].answered(); }

bool ResolvedUpstream::eligible(size_t server, uint64_t now_ns) const {
  ServerHealth& h = health[server];
  const uint32_t down = h.down_reasons();
  if (down == 0) return true;
  const uint64_t interval = static_cast<uint64_t>(config->health.interval.count()) * 1000000ull;
  return down == ServerHealth::kPassiveDown && h.claim_trial(now_ns, interval);
}

}  // namespace routemeter
