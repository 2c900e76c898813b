// [metrics] per_server: routemeter_upstream_server_requests_total counts each
// request by the server it went to and the status of that attempt; off by
// default (the family is absent).
#include <catch2/catch.hpp>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

double per_server(const std::string& m, const std::string& server, const char* code) {
  return find_metric(m, "routemeter_upstream_server_requests_total",
                     {{"upstream", "app"}, {"server", server}, {"code", code}})
      .value_or(0);
}

}  // namespace

TEST_CASE("per_server: requests are counted by the server that answered and its status",
          "[proxy][per_server]") {
  TestBackend a([](const ReceivedRequest&) { return Reply::ok("a"); });
  TestBackend b([](const ReceivedRequest&) { return Reply::with_status(503, "b"); });
  const RefusingPort closed;
  const std::string refused = "127.0.0.1:" + std::to_string(closed.port());
  // retries = 0: one attempt per request (retries_test.cpp counts retried
  // attempts per server).
  Routemeter proxy(
      proxy_config("\"" + a.address() + "\", \"" + b.address() + "\", \"" + refused + "\"", "",
                   "[metrics]\nper_server = true\n", "retries = 0\n"));
  // Round robin over a, b and the refusing one: 3 rounds.
  for (int i = 0; i < 9; ++i) http_get(proxy.proxy_port(), "/x");
  const std::string m = scrape_quiescent(proxy.admin_port());
  INFO(m);
  CHECK(a.requests().size() == 3);
  CHECK(b.requests().size() == 3);
  CHECK(per_server(m, a.address(), "200") == 3);
  CHECK(per_server(m, b.address(), "503") == 3);
  // The proxy's own 502 for the server that refused.
  CHECK(per_server(m, refused, "502") == 3);
  CHECK(sum_metric(m, "routemeter_upstream_server_requests_total") == 9);
}

TEST_CASE("per_server: off by default", "[proxy][per_server]") {
  ProxyFixture f;
  CHECK(http_get(f.port(), "/x").status == 200);
  const std::string m = scrape_quiescent(f.proxy.admin_port());
  CHECK(m.find("upstream_server_requests_total") == std::string::npos);
}
