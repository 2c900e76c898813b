// Scrape-time collectors over the proxy's own state: client connections
// (from the workers' counters), upstream server health (the pool's view,
// from the current snapshot) and the expiry of the current snapshot's TLS
// certificates. Called on the admin thread.
#pragma once

#include <prometheus/collectable.h>

#include <functional>
#include <memory>
#include <string>

#include "routemeter/snapshot.hpp"

namespace routemeter {

// <ns>_connections_active (gauge), <ns>_connections_total (counter) and
// <ns>_request_body_buffered_bytes (gauge).
class ConnectionsCollector : public prometheus::Collectable {
 public:
  explicit ConnectionsCollector(std::string name_space) : ns_(std::move(name_space)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string ns_;
};

// <ns>_upstream_server_up{upstream,server}: 1 healthy, 0 not.
class ServerUpCollector : public prometheus::Collectable {
 public:
  ServerUpCollector(std::string name_space,
                    std::function<std::shared_ptr<const Snapshot>()> current)
      : ns_(std::move(name_space)), current_(std::move(current)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string ns_;
  std::function<std::shared_ptr<const Snapshot>()> current_;
};

// <ns>_tls_certificate_expiry_timestamp_seconds{name}: the not-after of each
// certificate the current snapshot serves (TlsCertificateInfo::name); none
// without [tls]. A reload that renews a certificate changes the value.
class TlsExpiryCollector : public prometheus::Collectable {
 public:
  TlsExpiryCollector(std::string name_space,
                     std::function<std::shared_ptr<const Snapshot>()> current)
      : ns_(std::move(name_space)), current_(std::move(current)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string ns_;
  std::function<std::shared_ptr<const Snapshot>()> current_;
};

}  // namespace routemeter
