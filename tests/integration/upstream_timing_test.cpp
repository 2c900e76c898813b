// Where the time goes: routemeter_upstream_connect_duration_seconds counts
// each new upstream connection once (a pooled one is not timed again), and
// routemeter_upstream_header_duration_seconds each answer the upstream gave
// (any status), from the request's last byte sent to the head read.
#include <catch2/catch.hpp>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

constexpr const char* kConnect = "routemeter_upstream_connect_duration_seconds";
constexpr const char* kHeader = "routemeter_upstream_header_duration_seconds";

double series(const std::string& text, const std::string& name, const std::string& suffix,
              const std::string& labels = "upstream=\"app\"") {
  return metric_value(text, name + suffix + "{" + labels + "}");
}

}  // namespace

TEST_CASE("upstream timing: one connect per new connection, one header duration per answer",
          "[proxy][timing]") {
  constexpr auto kSlow = 300ms;
  ProxyFixture f([&](const ReceivedRequest& r) {
    if (r.target == "/slow") return Reply::ok("slow").after(kSlow);
    if (r.target == "/fail") return Reply::with_status(500, "no");
    return Reply::ok("fast");
  });
  {
    // One client connection, so one upstream connection, reused (1 worker).
    HttpClient client(f.port());
    for (const char* path : {"/fast", "/slow", "/fail", "/slow", "/fast"}) {
      const Response r = client.request("GET", path);
      REQUIRE(r.complete);
    }
  }
  const std::string m = scrape_quiescent(f.proxy.admin_port());
  INFO(m);
  CHECK(f.backend.connections_accepted() == 1);
  CHECK(series(m, kConnect, "_count") == 1);
  CHECK(series(m, kConnect, "_bucket", "upstream=\"app\",le=\"+Inf\"") == 1);
  CHECK(series(m, kHeader, "_count") == 5);
  CHECK(series(m, kHeader, "_bucket", "upstream=\"app\",le=\"+Inf\"") == 5);
  // The two slow answers waited at least kSlow each in the upstream.
  CHECK(series(m, kHeader, "_bucket", "upstream=\"app\",le=\"0.25\"") <= 3);
  CHECK(series(m, kHeader, "_sum") >= 0.6);
  // The request as a whole took at least as long as the upstream's part.
  CHECK(sum_metric(m, "routemeter_request_duration_seconds_sum") >= series(m, kHeader, "_sum"));
}

TEST_CASE("upstream timing: a refused connect and a reset time nothing past what happened",
          "[proxy][timing]") {
  SECTION("refused: no connect, no header") {
    const RefusingPort closed;
    Routemeter proxy(proxy_config("\"127.0.0.1:" + std::to_string(closed.port()) + "\""));
    CHECK(http_get(proxy.proxy_port(), "/x").status == 502);
    const std::string m = scrape_quiescent(proxy.admin_port());
    INFO(m);
    CHECK(series(m, kConnect, "_count") == 0);
    CHECK(series(m, kHeader, "_count") == 0);
  }
  SECTION("reset after the request: the connect only") {
    ProxyFixture f([](const ReceivedRequest&) { return Reply::reset(); });
    CHECK(http_get(f.port(), "/x").status == 502);
    const std::string m = scrape_quiescent(f.proxy.admin_port());
    INFO(m);
    CHECK(series(m, kConnect, "_count") == 1);
    CHECK(series(m, kHeader, "_count") == 0);
  }
}
