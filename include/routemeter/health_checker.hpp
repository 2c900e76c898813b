// Active health checks ([upstream.health], docs/upstreams.md): a `GET path`
// to every server of every upstream that has the table, one check per server
// at a time, started every `interval`. A 2xx or 3xx response head within
// `timeout` passes; a refused or failed connect, a reset or close, a timeout,
// a malformed head or any other status fails. Results go into the snapshot's
// ServerHealth of each server (atomics the workers read on every pick:
// `unhealthy_after` failures in a row take it out of the balance,
// `healthy_after` passes bring it back) and into
// routemeter_upstream_health_checks_total{upstream,server,result}.
//
// The checks are non-blocking on the event loop the checker is given: the
// main thread's, never a worker's. The Server owns one HealthChecker per
// snapshot and replaces it on reload; destroying it stops every check
// (sockets closed, timers gone). Every member runs on the loop's thread.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "routemeter/snapshot.hpp"

namespace routemeter {

class HealthChecker {
 public:
  // `base` outlives the checker; the checker holds `snapshot` while it runs.
  HealthChecker(event_base* base, std::shared_ptr<const Snapshot> snapshot);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts the first check of every server now; each next one an interval
  // after its previous one started (or when it ends, if it took longer).
  void start();
  // Servers checked (over all upstreams).
  size_t servers() const { return checks_.size(); }

 private:
  class Check;  // one server's checks (health_checker.cpp)
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<std::unique_ptr<Check>> checks_;
};

}  // namespace routemeter
