// Exemplars: each bucket keeps the last traced request per worker, a read
// takes the latest over the workers, the histogram's bucket rule (le) holds,
// and a scrape in OpenMetrics shows them on the duration histogram only.
#include "routemeter/exemplars.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "routemeter/config.hpp"
#include "routemeter/metrics.hpp"
#include "routemeter/router.hpp"

using namespace routemeter;

namespace {

TraceId id(uint64_t n) { return TraceId{0x1111, n}; }

}  // namespace

TEST_CASE("exemplars: the last traced request of each bucket, latest over the workers",
          "[exemplars]") {
  ExemplarSeries s(2, {0.1, 1});
  CHECK(s.buckets() == 3);
  for (const auto& e : s.latest()) CHECK_FALSE(e.has_value());
  s.observe(0, 0.05, id(1), 100);
  s.observe(1, 0.1, id(2), 200);  // le="0.1" includes 0.1
  s.observe(0, 0.5, id(3), 300);
  s.observe(1, 0.7, id(4), 250);  // older than worker 0's in the same bucket
  s.observe(0, 30, id(5), 400);   // +Inf
  auto latest = s.latest();
  REQUIRE(latest.size() == 3);
  REQUIRE(latest[0]);
  CHECK(latest[0]->trace_id == id(2));
  CHECK(latest[0]->value == 0.1);
  REQUIRE(latest[1]);
  CHECK(latest[1]->trace_id == id(3));
  CHECK(latest[1]->end_ns == 300);
  REQUIRE(latest[2]);
  CHECK(latest[2]->trace_id == id(5));
  s.observe(1, 0.9, id(6), 500);
  CHECK(s.latest()[1]->trace_id == id(6));
}

TEST_CASE("exemplars: a reader never sees a torn exemplar while a worker writes", "[exemplars]") {
  ExemplarSeries s(1, {1});
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    // Each write keeps value, trace id and end in step: value n/1e9, id n, end n.
    for (uint64_t n = 1; !stop.load(std::memory_order_relaxed); ++n) {
      s.observe(0, static_cast<double>(n % 1000) * 1e-6, id(n % 1000), n % 1000);
    }
  });
  // The writer is running once its first exemplar shows.
  while (!s.latest()[0]) std::this_thread::yield();
  int seen = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto e = s.latest()[0];
    if (!e) continue;
    ++seen;
    REQUIRE(e->trace_id.low == e->end_ns);
    REQUIRE(e->value == static_cast<double>(e->end_ns) * 1e-6);
  }
  stop = true;
  writer.join();
  CHECK(seen > 0);  // a read racing a write may skip the slot, never tear it
}

TEST_CASE("exemplars: an OpenMetrics scrape shows a traced request on its duration bucket",
          "[exemplars][metrics]") {
  ConfigLoadResult loaded = parse_config(
      "[[upstream]]\nname = \"u\"\nservers = [\"127.0.0.1:1\"]\n"
      "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"u\"\n",
      "t.toml");
  REQUIRE(loaded.ok());
  Router router(*loaded.config);
  const std::string trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto record = [&](MetricsBinding& binding, const std::string& traceparent) {
    RequestRecord rec;
    rec.route = &router.routes()[0];
    rec.method = http::Method::kGet;
    rec.status = 200;
    rec.start_ns = monotonic_ns();
    rec.end_ns = rec.start_ns + 200'000'000;  // 0.2 s: le="0.25"
    if (!traceparent.empty()) rec.trace_id = find_trace_id({{"traceparent", traceparent}});
    binding.begin(0, rec);
    binding.record(0, rec);
  };
  {
    Metrics metrics(loaded.config->metrics, 1);
    MetricsBinding binding(metrics, *loaded.config);
    record(binding, trace);
    record(binding, "");  // no header: the exemplar stays
    const std::string om = metrics.render(Exposition::kOpenMetrics);
    INFO(om);
    const std::string line =
        "routemeter_request_duration_seconds_bucket{method=\"GET\",route=\"r\",upstream=\"u\","
        "le=\"0.25\"} 2 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.2 ";
    CHECK(om.find(line) != std::string::npos);
    CHECK(om.find("# TYPE routemeter_requests counter\n") != std::string::npos);
    CHECK(om.size() > 6);
    CHECK(om.substr(om.size() - 6) == "# EOF\n");
    CHECK(om.find("trace_id", om.find(line) + line.size()) == std::string::npos);  // one only
    // The text format never carries exemplars.
    CHECK(metrics.render().find("trace_id") == std::string::npos);
  }
  {  // exemplars = false: none
    MetricsConfig off = loaded.config->metrics;
    off.exemplars = false;
    Metrics metrics(off, 1);
    MetricsBinding binding(metrics, *loaded.config);
    record(binding, trace);
    CHECK(metrics.render(Exposition::kOpenMetrics).find("trace_id") == std::string::npos);
  }
}
