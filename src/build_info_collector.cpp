#include "routemeter/collectors.hpp"

namespace routemeter {

BuildInfoCollector::BuildInfoCollector(const std::string& name_space, std::string version,
                                       std::string revision)
    : name_(name_space.empty() ? "build_info" : name_space + "_build_info"),
      version_(std::move(version)),
      revision_(std::move(revision)) {}

std::vector<prometheus::MetricFamily> BuildInfoCollector::Collect() const {
  prometheus::MetricFamily family;
  family.name = name_;
  family.help =
      "A metric with a constant '1' value labeled by version and revision from which routemeter "
      "was built.";
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric m;
  m.label = {{"revision", revision_}, {"version", version_}};
  m.gauge.value = 1;
  family.metric.push_back(std::move(m));
  return {std::move(family)};
}

}  // namespace routemeter
