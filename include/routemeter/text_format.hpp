// The Prometheus text exposition format 0.0.4, written straight into one
// string. Same output shape as prometheus-cpp's TextSerializer, about ten
// times faster (no ostream): /metrics with ~10,000 series must render in
// well under 50 ms (docs/performance.md, "Metrics on the request path").
// Stateless; any thread.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace routemeter {

void append_text_format(std::string& out, const std::vector<prometheus::MetricFamily>& families);

}  // namespace routemeter
