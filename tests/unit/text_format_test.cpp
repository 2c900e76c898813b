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

TEST_CASE("OpenMetrics: counters without _total in TYPE, buckets first with exemplars, # EOF",
          "[text_format][exemplars]") {
  prometheus::Registry registry;
  auto& counters = prometheus::BuildCounter()
                       .Name("t_requests_total")
                       .Help("Requests \"all\".\nMore.")
                       .Register(registry);
  counters.Add({{"code", "200"}}).Increment(3);
  auto& hist = prometheus::BuildHistogram().Name("t_seconds").Help("Durations.").Register(registry);
  hist.Add({{"route", "a"}}, prometheus::Histogram::BucketBoundaries{0.1, 1}).Observe(0.5);
  hist.Add({{"route", "b"}}, prometheus::Histogram::BucketBoundaries{0.1, 1}).Observe(5);
  auto& gauges = prometheus::BuildGauge().Name("t_up").Help("Up.").Register(registry);
  gauges.Add({}).Set(1);
  std::string out;
  routemeter::append_openmetrics(
      out, registry.Collect(),
      [](const prometheus::MetricFamily& f, const prometheus::ClientMetric& m,
         std::vector<std::optional<routemeter::BucketExemplar>>& buckets) {
        REQUIRE(f.name == "t_seconds");
        if (m.label.at(0).value != "a") return;  // b: none
        buckets.resize(3);
        buckets[1] =
            routemeter::BucketExemplar{"4bf92f3577b34da6a3ce929d0e0e4736", 0.5, 1700000000.25};
      });
  // prometheus-cpp collects a family's series in no fixed order: each series'
  // lines are checked as one block.
  const std::string head =
      "# HELP t_requests Requests \\\"all\\\".\\nMore.\n"
      "# TYPE t_requests counter\n"
      "t_requests_total{code=\"200\"} 3\n"
      "# HELP t_up Up.\n"
      "# TYPE t_up gauge\n"
      "t_up 1\n"
      "# HELP t_seconds Durations.\n"
      "# TYPE t_seconds histogram\n";
  const std::string a =
      "t_seconds_bucket{route=\"a\",le=\"0.1\"} 0\n"
      "t_seconds_bucket{route=\"a\",le=\"1\"} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} "
      "0.5 1700000000.250\n"
      "t_seconds_bucket{route=\"a\",le=\"+Inf\"} 1\n"
      "t_seconds_count{route=\"a\"} 1\n"
      "t_seconds_sum{route=\"a\"} 0.5\n";
  const std::string b =
      "t_seconds_bucket{route=\"b\",le=\"0.1\"} 0\n"
      "t_seconds_bucket{route=\"b\",le=\"1\"} 0\n"
      "t_seconds_bucket{route=\"b\",le=\"+Inf\"} 1\n"
      "t_seconds_count{route=\"b\"} 1\n"
      "t_seconds_sum{route=\"b\"} 5\n";
  INFO(out);
  CHECK((out == head + a + b + "# EOF\n" || out == head + b + a + "# EOF\n"));
  // Without an exemplar source, and with no family: just the end.
  std::string bare;
  routemeter::append_openmetrics(bare, {}, {});
  CHECK(bare == "# EOF\n");
}
