// Passive outlier ejection through the proxy ([upstream.outlier]): a server
// answering 500 is ejected after consecutive_failures answers in a row, gets
// no traffic while ejected (server_up 0, ejections_total 1), and traffic again
// once base_ejection_time has passed and it answers 200. Every wait has a
// deadline; figures are compared with what the backends answered.
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

constexpr milliseconds kWait = 15s;
constexpr milliseconds kPoll = 50ms;

double for_server(const std::string& m, const char* name, const std::string& server) {
  return find_metric(m, name, {{"upstream", "app"}, {"server", server}}).value_or(std::nan(""));
}

double requests(const std::string& m, const char* code) {
  return find_metric(m, "routemeter_requests_total",
                     {{"upstream", "app"}, {"route", "all"}, {"method", "GET"}, {"code", code}})
      .value_or(0);
}

}  // namespace

TEST_CASE("outlier: a server answering 500 is ejected, then serves again once it recovers",
          "[proxy][outlier]") {
  std::atomic<bool> failing{true};
  TestBackend a([&](const ReceivedRequest&) {
    return failing ? Reply::with_status(500, "a-down") : Reply::ok("a");
  });
  TestBackend b([](const ReceivedRequest&) { return Reply::ok("b"); });
  Routemeter proxy(proxy_config("\"" + a.address() + "\", \"" + b.address() + "\"", "", "",
                                "[upstream.outlier]\nconsecutive_failures = 3\n"
                                "base_ejection_time = \"5s\"\nmax_ejection_percent = 50\n"));
  const uint16_t admin = proxy.admin_port();
  std::string m = scrape(admin);
  CHECK(for_server(m, "routemeter_upstream_ejections_total", a.address()) == 0);
  CHECK(for_server(m, "routemeter_upstream_ejections_total", b.address()) == 0);

  // Round robin: a, b, a, b, a, b. The third 500 ejects a.
  int answered_500 = 0;
  for (int i = 0; i < 6; ++i) answered_500 += http_get(proxy.proxy_port(), "/x").status == 500;
  CHECK(answered_500 == 3);
  REQUIRE(a.requests().size() == 3);
  m = scrape_quiescent(admin);
  INFO(m);
  CHECK(for_server(m, "routemeter_upstream_ejections_total", a.address()) == 1);
  CHECK(for_server(m, "routemeter_upstream_ejections_total", b.address()) == 0);
  CHECK(for_server(m, "routemeter_upstream_server_up", a.address()) == 0);
  CHECK(for_server(m, "routemeter_upstream_server_up", b.address()) == 1);

  // While ejected, b takes everything.
  for (int i = 0; i < 10; ++i) CHECK(http_get(proxy.proxy_port(), "/x").body == "b");
  CHECK(a.requests().size() == 3);

  // a recovers; once its ejection ends it is up and gets traffic again.
  failing = false;
  REQUIRE(wait_until(
      [&] { return for_server(scrape(admin), "routemeter_upstream_server_up", a.address()) == 1; },
      kWait, kPoll));
  std::string last;
  REQUIRE(wait_until(
      [&] {
        last = http_get(proxy.proxy_port(), "/x").body;
        return last == "a";
      },
      kWait, kPoll));
  m = scrape_quiescent(admin);
  CHECK(for_server(m, "routemeter_upstream_ejections_total", a.address()) == 1);
  CHECK(requests(m, "500") == 3);
  CHECK(requests(m, "200") == static_cast<double>(a.requests().size() - 3 + b.requests().size()));
  CHECK(requests(m, "200") >= 11);
}
