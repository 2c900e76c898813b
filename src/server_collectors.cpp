#include "routemeter/server_collectors.hpp"

#include <prometheus/metric_family.h>

#include "routemeter/worker.hpp"

namespace routemeter {

std::vector<prometheus::MetricFamily> ConnectionsCollector::Collect() const {
  prometheus::MetricFamily active{
      ns_ + "_connections_active", "Open client connections.", prometheus::MetricType::Gauge, {}};
  prometheus::ClientMetric a;
  a.gauge.value = static_cast<double>(Worker::active_connections.load(std::memory_order_relaxed));
  active.metric.push_back(a);
  prometheus::MetricFamily total{ns_ + "_connections_total",
                                 "Client connections accepted.",
                                 prometheus::MetricType::Counter,
                                 {}};
  prometheus::ClientMetric t;
  t.counter.value = static_cast<double>(Worker::total_connections.load(std::memory_order_relaxed));
  total.metric.push_back(t);
  prometheus::MetricFamily body{ns_ + "_request_body_buffered_bytes",
                                "Request body bytes read from clients and not yet written "
                                "upstream (bounded per request and per process).",
                                prometheus::MetricType::Gauge,
                                {}};
  prometheus::ClientMetric b;
  b.gauge.value = static_cast<double>(Worker::body_bytes_all.load(std::memory_order_relaxed));
  body.metric.push_back(b);
  return {active, total, body};
}

std::vector<prometheus::MetricFamily> ServerUpCollector::Collect() const {
  prometheus::MetricFamily fam{ns_ + "_upstream_server_up",
                               "Whether the proxy considers an upstream server healthy (1) or "
                               "not (0).",
                               prometheus::MetricType::Gauge,
                               {}};
  std::shared_ptr<const Snapshot> snap = current_();
  if (snap) {
    const uint64_t now = monotonic_ns();
    for (const ResolvedUpstream& up : snap->upstreams()) {
      for (size_t s = 0; s < up.servers.size(); ++s) {
        prometheus::ClientMetric m;
        m.label.push_back({"server", up.server_names[s]});
        m.label.push_back({"upstream", up.config->name});
        m.gauge.value = up.health[s].up() && !up.ejected(s, now) ? 1 : 0;
        fam.metric.push_back(m);
      }
    }
  }
  return {fam};
}

std::vector<prometheus::MetricFamily> TlsExpiryCollector::Collect() const {
  prometheus::MetricFamily fam{ns_ + "_tls_certificate_expiry_timestamp_seconds",
                               "When each served TLS certificate expires (its not-after), in "
                               "seconds since the epoch; name = its first DNS name.",
                               prometheus::MetricType::Gauge,
                               {}};
  std::shared_ptr<const Snapshot> snap = current_();
  if (snap && snap->tls()) {
    for (const TlsCertificateInfo& cert : snap->tls()->certificates()) {
      prometheus::ClientMetric m;
      m.label.push_back({"name", cert.name});
      m.gauge.value = static_cast<double>(cert.not_after);
      fam.metric.push_back(m);
    }
  }
  return {fam};
}

}  // namespace routemeter
