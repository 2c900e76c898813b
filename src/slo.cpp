#include "routemeter/slo.hpp"

#include <chrono>

#include "routemeter/snapshot.hpp"

namespace routemeter {

std::string_view slo_result_name(SloResult result) {
  switch (result) {
    case SloResult::kGood:
      return "good";
    case SloResult::kSlow:
      return "slow";
    case SloResult::kError:
      return "error";
  }
  return "error";
}

std::vector<prometheus::MetricFamily> SloCollector::Collect() const {
  prometheus::MetricFamily objective{
      ns_ + "_slo_objective_ratio",
      "The share of good requests a route's SLO aims for (its slo.objective).",
      prometheus::MetricType::Gauge,
      {}};
  prometheus::MetricFamily latency{
      ns_ + "_slo_latency_threshold_seconds",
      "The latency within which a route's request counts as good (its slo.latency).",
      prometheus::MetricType::Gauge,
      {}};
  if (std::shared_ptr<const Snapshot> snap = current_()) {
    for (const RouteConfig& route : snap->config().routes) {
      if (!route.slo) continue;
      prometheus::ClientMetric m;
      m.label.push_back({"route", route.name});
      m.gauge.value = route.slo->objective;
      objective.metric.push_back(m);
      m.gauge.value = std::chrono::duration<double>(route.slo->latency).count();
      latency.metric.push_back(m);
    }
  }
  // Like prometheus-cpp's families: no series, no HELP/TYPE lines.
  std::vector<prometheus::MetricFamily> out;
  if (!objective.metric.empty()) {
    out.push_back(std::move(objective));
    out.push_back(std::move(latency));
  }
  return out;
}

}  // namespace routemeter
