// routemeter_upstream_connect_duration_seconds and
// routemeter_upstream_header_duration_seconds: MetricsBinding::record observes
// the phases the exchange timed (UpstreamTimes), each only when both of its
// ends were reached, per upstream, with the configured buckets.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/router.hpp"
#include "routemeter/worker_histogram.hpp"

using namespace routemeter;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

constexpr uint64_t kMs = 1'000'000;

}  // namespace

TEST_CASE("upstream timing: connect and header durations are observed per upstream",
          "[metrics][timing]") {
  ConfigLoadResult loaded = parse_config(R"(
[metrics]
histogram_buckets = [0.01, 0.1, 1]

[[upstream]]
name = "app"
servers = ["127.0.0.1:9001"]

[[route]]
name = "all"
path_prefix = "/"
upstream = "app"
)",
                                         "t.toml");
  REQUIRE(loaded.ok());
  Metrics metrics(loaded.config->metrics, 1);
  MetricsBinding binding(metrics, *loaded.config);
  Router router(*loaded.config);

  std::string text = metrics.render();
  CHECK(has_line(text, "# TYPE routemeter_upstream_connect_duration_seconds histogram"));
  CHECK(has_line(text, "routemeter_upstream_connect_duration_seconds_count{upstream=\"app\"} 0"));
  CHECK(has_line(text, "routemeter_upstream_header_duration_seconds_count{upstream=\"app\"} 0"));
  CHECK(text.find("upstream_header_duration_seconds_count{upstream=\"none\"}") ==
        std::string::npos);

  auto record = [&](UpstreamTimes times) {
    RequestRecord rec;
    rec.route = &router.routes()[0];
    rec.method = http::Method::kGet;
    rec.status = 200;
    rec.start_ns = 1000 * kMs;
    rec.end_ns = 2000 * kMs;
    rec.upstream_times = times;
    binding.begin(0, rec);
    binding.record(0, rec);
  };
  // A new connection (5 ms connect), request sent, head 50 ms later.
  record({1000 * kMs, 1005 * kMs, 1006 * kMs, 1056 * kMs});
  // A pooled connection: no connect; head 500 ms after the request.
  record({0, 0, 1000 * kMs, 1500 * kMs});
  // The connect failed: nothing timed.
  record({1000 * kMs, 0, 0, 0});
  // Connected, request sent, no answer (a reset): the connect only.
  record({1000 * kMs, 1020 * kMs, 1021 * kMs, 0});
  // The answer came before the request was fully sent: no header duration.
  record({0, 0, 0, 1100 * kMs});

  text = metrics.render();
  INFO(text);
  const std::string c = "routemeter_upstream_connect_duration_seconds";
  CHECK(has_line(text, c + "_bucket{upstream=\"app\",le=\"0.01\"} 1"));
  CHECK(has_line(text, c + "_bucket{upstream=\"app\",le=\"0.1\"} 2"));
  CHECK(has_line(text, c + "_bucket{upstream=\"app\",le=\"+Inf\"} 2"));
  CHECK(has_line(text, c + "_count{upstream=\"app\"} 2"));
  CHECK(has_line(text, c + "_sum{upstream=\"app\"} 0.025"));
  const std::string h = "routemeter_upstream_header_duration_seconds";
  CHECK(has_line(text, h + "_bucket{upstream=\"app\",le=\"0.01\"} 0"));
  CHECK(has_line(text, h + "_bucket{upstream=\"app\",le=\"0.1\"} 1"));
  CHECK(has_line(text, h + "_bucket{upstream=\"app\",le=\"1\"} 2"));
  CHECK(has_line(text, h + "_count{upstream=\"app\"} 2"));
  CHECK(has_line(text, h + "_sum{upstream=\"app\"} 0.55"));
}

TEST_CASE("worker histogram: workers' counts add up at collect, bounds are inclusive",
          "[metrics][timing]") {
  WorkerHistogramFamily family("t_seconds", "help", {0.005, 0.1}, 2);
  CHECK(family.Collect().empty());
  WorkerHistogramFamily::Series& s = family.add({{"upstream", "a"}});
  CHECK(&family.add({{"upstream", "a"}}) == &s);
  s.observe(0, 5'000'000);      // exactly 5 ms: le="0.005"
  s.observe(1, 5'000'001);      // just above: le="0.1"
  s.observe(1, 3'000'000'000);  // 3 s: +Inf only
  const auto families = family.Collect();
  REQUIRE(families.size() == 1);
  CHECK(families[0].type == prometheus::MetricType::Histogram);
  REQUIRE(families[0].metric.size() == 1);
  const auto& h = families[0].metric[0].histogram;
  CHECK(h.sample_count == 3);
  CHECK(h.sample_sum == 3.010000001);
  REQUIRE(h.bucket.size() == 3);
  CHECK(h.bucket[0].cumulative_count == 1);
  CHECK(h.bucket[1].cumulative_count == 2);
  CHECK(h.bucket[2].cumulative_count == 3);
  CHECK(std::isinf(h.bucket[2].upper_bound));
  family.remove(s);
  CHECK(family.Collect().empty());
}
