#include "routemeter/text_format.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <catch2/catch.hpp>
#include <cmath>

using routemeter::append_text_format;

TEST_CASE("counters, gauges and histograms are written in text format 0.0.4", "[text_format]") {
  prometheus::Registry registry;
  auto& counters =
      prometheus::BuildCounter().Name("t_requests_total").Help("Requests.").Register(registry);
  counters.Add({{"code", "200"}, {"route", "a\"b\\c\nd"}}).Increment(3);
  auto& hist = prometheus::BuildHistogram().Name("t_seconds").Help("Durations.").Register(registry);
  hist.Add({{"route", "a"}}, prometheus::Histogram::BucketBoundaries{0.1, 1}).Observe(0.5);
  std::string out;
  append_text_format(out, registry.Collect());
  CHECK(out ==
        "# HELP t_requests_total Requests.\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{code=\"200\",route=\"a\\\"b\\\\c\\nd\"} 3\n"
        "# HELP t_seconds Durations.\n"
        "# TYPE t_seconds histogram\n"
        "t_seconds_count{route=\"a\"} 1\n"
        "t_seconds_sum{route=\"a\"} 0.5\n"
        "t_seconds_bucket{route=\"a\",le=\"0.1\"} 0\n"
        "t_seconds_bucket{route=\"a\",le=\"1\"} 1\n"
        "t_seconds_bucket{route=\"a\",le=\"+Inf\"} 1\n");
}

TEST_CASE("summaries carry quantile labels; NaN and infinities are spelled out", "[text_format]") {
  prometheus::MetricFamily f{"t_latency", "", prometheus::MetricType::Summary, {}};
  prometheus::ClientMetric m;
  m.summary.sample_count = 2;
  m.summary.sample_sum = 0.25;
  m.summary.quantile.push_back({0.5, std::nan("")});
  m.summary.quantile.push_back({0.99, 0.125});
  f.metric.push_back(m);
  prometheus::MetricFamily g{"t_gauge", "", prometheus::MetricType::Gauge, {}};
  prometheus::ClientMetric gm;
  gm.gauge.value = -INFINITY;
  g.metric.push_back(gm);
  prometheus::MetricFamily empty{"t_empty", "nothing", prometheus::MetricType::Counter, {}};
  std::string out;
  append_text_format(out, {f, g, empty});
  CHECK(out ==
        "# TYPE t_latency summary\n"
        "t_latency_count 2\n"
        "t_latency_sum 0.25\n"
        "t_latency{quantile=\"0.5\"} NaN\n"
        "t_latency{quantile=\"0.99\"} 0.125\n"
        "# TYPE t_gauge gauge\n"
        "t_gauge -Inf\n");
}
