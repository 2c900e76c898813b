// The exposition formats of /metrics, written straight into one string: the
// Prometheus text format 0.0.4 (the same output shape as prometheus-cpp's
// TextSerializer, about ten times faster: no ostream; /metrics with ~10,000
// series must render in well under 50 ms, docs/performance.md, "Metrics on
// the request path"), and OpenMetrics 1.0.0 with exemplars on histogram
// buckets. Stateless; any thread.
#pragma once

#include <prometheus/metric_family.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace routemeter {

void append_text_format(std::string& out, const std::vector<prometheus::MetricFamily>& families);

// An exemplar as OpenMetrics writes it after a bucket's value:
// `# {trace_id="<trace_id>"} <value> <timestamp>`.
struct BucketExemplar {
  std::string trace_id;  // 32 hex digits
  double value = 0;      // the observation, seconds
  double timestamp = 0;  // seconds since the epoch
};
// Fills `out` with one entry per bucket of a histogram series (its bounds,
// then +Inf), nullopt where a bucket has none; leaves it empty for a series
// without exemplars.
using HistogramExemplars =
    std::function<void(const prometheus::MetricFamily&, const prometheus::ClientMetric&,
                       std::vector<std::optional<BucketExemplar>>& out)>;

// OpenMetrics 1.0.0 text: counter families named without `_total` (their
// samples keep it), histogram buckets first and with their exemplars, HELP
// escaped, `# EOF` at the end. `exemplars` may be empty (none).
void append_openmetrics(std::string& out, const std::vector<prometheus::MetricFamily>& families,
                        const HistogramExemplars& exemplars);

}  // namespace routemeter
