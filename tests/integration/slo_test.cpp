// Per-route SLOs through the real binary: each answer counted good, slow or
// error on its route's routemeter_slo_requests_total, exactly; the objective
// and threshold gauges; a reload changes the gauges and keeps the counters.
// The same scrape passes `promtool check metrics`.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

// Above the 1 s threshold by construction: the backend answers no sooner.
constexpr milliseconds kSlowDelay = 1100ms;

Reply slo_backend(const ReceivedRequest& req) {
  if (req.target == "/api/fail") return Reply::with_status(500, "boom");
  if (req.target == "/api/missing") return Reply::with_status(404, "no");
  if (req.target == "/api/slow") return Reply::ok("slow").after(kSlowDelay);
  if (req.target == "/api/slowfail") return Reply::with_status(503, "late").after(kSlowDelay);
  return Reply::ok("ok");
}

std::string slo_routes(const std::string& objective) {
  return R"([[route]]
name = "api"
path_prefix = "/api/"
upstream = "app"
slo = { latency = "1s", objective = )" +
         objective + R"( }

[[route]]
name = "other"
path_prefix = "/other/"
upstream = "app"
)";
}

double slo(const std::string& text, const std::string& route, const std::string& result) {
  return find_metric(text, "routemeter_slo_requests_total",
                     {{"upstream", "app"}, {"route", route}, {"result", result}})
      .value_or(NAN);
}

Response get(uint16_t port, const std::string& target) {
  HttpClient client(port);
  return client.request("GET", target, {{"Connection", "close"}});
}

}  // namespace

TEST_CASE("slo: answers are counted good, slow and error exactly, with the route's gauges",
          "[slo][metrics]") {
  TestBackend backend(slo_backend);
  Routemeter proxy(proxy_config("\"" + backend.address() + "\"", slo_routes("0.99")));
  const uint16_t port = proxy.proxy_port();

  std::string m = scrape(proxy.admin_port());
  INFO(m);
  // From the start, at 0, and the gauges of the config.
  CHECK(slo(m, "api", "good") == 0);
  CHECK(slo(m, "api", "slow") == 0);
  CHECK(slo(m, "api", "error") == 0);
  CHECK(metric_value(m, "routemeter_slo_objective_ratio{route=\"api\"}") == 0.99);
  CHECK(metric_value(m, "routemeter_slo_latency_threshold_seconds{route=\"api\"}") == 1);
  CHECK_FALSE(find_metric(m, "routemeter_slo_objective_ratio{route=\"other\"}").has_value());

  for (int i = 0; i < 5; ++i) CHECK(get(port, "/api/ok").status == 200);
  for (int i = 0; i < 2; ++i) CHECK(get(port, "/api/fail").status == 500);
  CHECK(get(port, "/api/missing").status == 404);
  for (int i = 0; i < 3; ++i) CHECK(get(port, "/other/x").status == 200);
  CHECK(get(port, "/nowhere").status == 404);
  {  // one slow 200 and one slow 503, concurrently
    HttpClient a(port);
    HttpClient b(port);
    REQUIRE(a.send_request("GET", "/api/slow", {{"Connection", "close"}}));
    REQUIRE(b.send_request("GET", "/api/slowfail", {{"Connection", "close"}}));
    CHECK(a.read_response().status == 200);
    CHECK(b.read_response().status == 503);
  }

  m = scrape_quiescent(proxy.admin_port());
  CHECK(slo(m, "api", "good") == 6);   // 5 x 200 and the 404
  CHECK(slo(m, "api", "slow") == 1);   // the slow 200
  CHECK(slo(m, "api", "error") == 3);  // 2 x 500, and the slow 503 is an error, not slow
  // The route without an slo and the unmatched requests have no SLO series.
  CHECK(sum_metric(m, "routemeter_slo_requests_total") == 10);
  CHECK(sum_metric(m, "routemeter_slo_requests_total", {{"route", "other"}}) == 0);
  // They agree with requests_total for the route.
  CHECK(sum_metric(m, "routemeter_requests_total", {{"route", "api"}}) == 10);

  const CommandResult lint = promtool_check_metrics(m);
  INFO("promtool:\n" << lint.out << lint.err);
  CHECK(lint.status.ok());

  // A reload with another objective: the gauge follows, the counters stay.
  proxy.write_config(proxy_config("\"" + backend.address() + "\"", slo_routes("0.995")));
  REQUIRE(proxy.reload());
  REQUIRE(wait_until([&] {
    m = scrape(proxy.admin_port());
    return find_metric(m, "routemeter_slo_objective_ratio{route=\"api\"}") == 0.995;
  }));
  CHECK(slo(m, "api", "good") == 6);
  CHECK(slo(m, "api", "error") == 3);
  CHECK(get(port, "/api/ok").status == 200);
  m = scrape_quiescent(proxy.admin_port());
  CHECK(slo(m, "api", "good") == 7);
}
