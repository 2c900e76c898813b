// Per-route SLO accounting (docs/metrics.md, "SLOs"): which of good, slow or
// error a finished request is against its route's `slo` (counted by
// MetricsBinding in <ns>_slo_requests_total), and SloCollector, the
// scrape-time gauges that publish each route's objective and latency
// threshold so that one generic set of burn-rate rules (conf/rules.yml)
// serves every route.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace routemeter {

class Snapshot;

// The `result` label of <ns>_slo_requests_total.
enum class SloResult : uint8_t { kGood, kSlow, kError };
constexpr size_t kSloResults = 3;
std::string_view slo_result_name(SloResult result);  // "good", "slow", "error"

// A 5xx is an error whatever its duration; any other status (4xx and 499
// included: the client's doing, not the service's) is good when the request
// took at most `latency_ns`, slow otherwise. Pure; any thread.
constexpr SloResult classify_slo(int status, uint64_t duration_ns, uint64_t latency_ns) {
  if (status >= 500 && status <= 599) return SloResult::kError;
  return duration_ns <= latency_ns ? SloResult::kGood : SloResult::kSlow;
}

// <ns>_slo_objective_ratio{route} and <ns>_slo_latency_threshold_seconds{route}
// for every route of the current snapshot that has an `slo` (none without).
// Read from the snapshot at scrape time, so a reload that changes or removes
// an `slo` changes or removes its gauges at once. Any thread.
class SloCollector : public prometheus::Collectable {
 public:
  SloCollector(std::string name_space, std::function<std::shared_ptr<const Snapshot>()> current)
      : ns_(std::move(name_space)), current_(std::move(current)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string ns_;
  std::function<std::shared_ptr<const Snapshot>()> current_;
};

}  // namespace routemeter
