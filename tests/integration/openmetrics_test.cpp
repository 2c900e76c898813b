// OpenMetrics and exemplars through the real binary: /metrics answers
// OpenMetrics 1.0.0 to a scraper that asks (text 0.0.4 otherwise), with the
// trace id of a request's traceparent on its duration bucket; and a real
// Prometheus started with --enable-feature=exemplar-storage gives that trace
// id back from /api/v1/query_exemplars.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

const std::string kPrometheus = "/usr/bin/prometheus";
const std::string kAcceptOpenMetrics =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";  // what Prometheus 2.42 sends
const std::string kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string kTraceparent = "00-" + kTraceId + "-00f067aa0ba902b7-01";

Response get(uint16_t port, const std::string& target,
             std::vector<std::pair<std::string, std::string>> headers = {}) {
  headers.emplace_back("Connection", "close");
  HttpClient client(port);
  return client.request("GET", target, headers);
}

}  // namespace

TEST_CASE("OpenMetrics: asked for, /metrics answers it with the traceparent's trace id",
          "[openmetrics][exemplars]") {
  TestBackend backend;
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", "", "workers = 2"));
  CHECK(get(proxy.proxy_port(), "/traced", {{"traceparent", kTraceparent}}).status == 200);
  CHECK(get(proxy.proxy_port(), "/untraced").status == 200);
  scrape_quiescent(proxy.admin_port());

  const Response om = get(proxy.admin_port(), "/metrics", {{"Accept", kAcceptOpenMetrics}});
  INFO(om.body);
  REQUIRE(om.status == 200);
  CHECK(om.header("Content-Type") == "application/openmetrics-text; version=1.0.0; charset=utf-8");
  CHECK(om.body.find("# TYPE routemeter_requests counter\n") != std::string::npos);
  CHECK(om.body.find(
            R"(routemeter_requests_total{code="200",method="GET",route="all",upstream="app"} 2)") !=
        std::string::npos);
  // One bucket of the route's histogram carries the trace id (the request
  // took well under 10 s, so one of the finite buckets).
  const size_t at = om.body.find("# {trace_id=\"" + kTraceId + "\"} ");
  REQUIRE(at != std::string::npos);
  const size_t line = om.body.rfind('\n', at) + 1;
  const std::string bucket = "routemeter_request_duration_seconds_bucket{method=\"GET\",";
  CHECK(om.body.substr(line, bucket.size()) == bucket);
  CHECK(om.body.find("trace_id", at + 10) == std::string::npos);  // the untraced one has none
  CHECK(om.body.size() > 6);
  CHECK(om.body.substr(om.body.size() - 6) == "# EOF\n");

  // No Accept, or text asked for: 0.0.4, without exemplars.
  const Response text = get(proxy.admin_port(), "/metrics", {{"Accept", "text/plain"}});
  CHECK(text.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(text.body.find("trace_id") == std::string::npos);
  CHECK(text.body.find("# EOF") == std::string::npos);
}

TEST_CASE("exemplars: the trace id of a request comes back from Prometheus's exemplar API",
          "[prometheus][exemplars]") {
  INFO("needs " << kPrometheus << " (Debian package prometheus; scripts/bootstrap-deps.sh)");
  REQUIRE(::access(kPrometheus.c_str(), X_OK) == 0);
  TestBackend backend;
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", "", "workers = 2"));
  TempDir dir;
  const std::string config =
      dir.write("prometheus.yml", fill(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: routemeter
    static_configs:
      - targets: ["127.0.0.1:{{admin}}"]
)",
                                       {{"admin", std::to_string(proxy.admin_port())}}));
  // Prometheus binds its port itself: a clash is retried on another port.
  uint16_t port = 0;
  std::unique_ptr<Process> prometheus;
  bool ready = false;
  for (int attempt = 0; attempt < 3 && !ready; ++attempt) {
    port = unused_port();
    prometheus = std::make_unique<Process>(
        kPrometheus, std::vector<std::string>{
                         "--config.file=" + config, "--storage.tsdb.path=" + dir.path() + "/data",
                         "--web.listen-address=127.0.0.1:" + std::to_string(port),
                         "--enable-feature=exemplar-storage", "--log.level=warn"});
    ready = wait_until(
        [&] { return !prometheus->running() || http_get(port, "/-/ready").status == 200; }, 60s,
        100ms);
    ready = ready && prometheus->running();
  }
  INFO("prometheus stderr:\n" << prometheus->stderr_text());
  REQUIRE(ready);

  CHECK(get(proxy.proxy_port(), "/traced", {{"traceparent", kTraceparent}}).status == 200);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string query =
      "/api/v1/query_exemplars?query=routemeter_request_duration_seconds_"
      "bucket&start=" +
      std::to_string(now - 600) + "&end=" + std::to_string(now + 600);
  std::string body;
  const bool found = wait_until(
      [&] {
        body = http_get(port, query).body;
        return body.find("\"trace_id\":\"" + kTraceId + "\"") != std::string::npos;
      },
      30s, 250ms);
  INFO("last answer: " << body);
  CHECK(found);
  // The scrapes themselves were OpenMetrics and parsed: the target is up.
  const std::string up = http_get(port, "/api/v1/query?query=up").body;
  INFO(up);
  CHECK(up.find("\"value\":[") != std::string::npos);
  CHECK(up.find(",\"1\"]") != std::string::npos);
}
