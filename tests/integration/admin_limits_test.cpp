// The admin listener's limits (docs/operations.md, "Admin listener limits"):
// request head size, request body size, connections at once and the time to
// send a request, each refused without stopping the admin from serving.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

// A proxy whose admin endpoints are all that matter here.
std::string limits_config() { return proxy_config("\"127.0.0.1:1\""); }

bool healthz_ok(uint16_t admin) {
  Response r = http_get(admin, "/healthz");
  return r.status == 200 && r.body == "ok\n";
}

}  // namespace

TEST_CASE("an admin request head over 16 KiB is refused with 400 and the admin still serves",
          "[admin][limits]") {
  Routemeter proxy(limits_config());
  const uint16_t admin = proxy.admin_port();
  HttpClient client(admin);
  // evhttp stops reading past 16 KiB and answers 400 (it cannot say 431).
  REQUIRE(client.send_request("GET", "/healthz", {{"X-Filler", std::string(64 * 1024, 'a')}}));
  Response r = client.read_response();
  CHECK(r.status == 400);
  CHECK(client.wait_peer_closed(kDefaultTimeout));
  // Just under the limit is fine.
  HttpClient under(admin);
  Response ok = under.request("GET", "/healthz", {{"X-Filler", std::string(15 * 1024, 'a')}});
  CHECK(ok.status == 200);
  CHECK(healthz_ok(admin));
}

TEST_CASE("a request body over 1 MiB to /-/reload is answered 413", "[admin][limits]") {
  Routemeter proxy(limits_config());
  const uint16_t admin = proxy.admin_port();
  HttpClient client(admin);
  Response r = client.request("POST", "/-/reload", {}, std::string(2 * 1024 * 1024, 'x'));
  CHECK(r.status == 413);
  CHECK(healthz_ok(admin));
  CHECK(metric_value(scrape(admin), "routemeter_config_last_reload_successful") == 1);
}

TEST_CASE("the 65th admin connection at once is closed; a freed slot serves again",
          "[admin][limits]") {
  Routemeter proxy(limits_config());
  const uint16_t admin = proxy.admin_port();
  // 64 idle connections: each is accepted and kept (checked by a request on it).
  std::vector<std::unique_ptr<HttpClient>> idle;
  for (int i = 0; i < 64; ++i) {
    idle.push_back(std::make_unique<HttpClient>(admin));
    REQUIRE(idle.back()->connected());
  }
  // Each is served and stays open (keep-alive): all 64 are counted.
  for (auto& c : idle) REQUIRE(c->request("GET", "/healthz").status == 200);

  HttpClient extra(admin);
  REQUIRE(extra.connected());
  CHECK(extra.wait_peer_closed(kDefaultTimeout));
  // The 64 are still open and served.
  CHECK(idle.back()->request("GET", "/healthz").status == 200);

  // Closing one frees a slot: a new connection is served once it is noticed.
  idle.front()->close();
  CHECK(wait_until([&] { return healthz_ok(admin); }));
}

TEST_CASE("hundreds of admin requests, each on its own connection, are all answered",
          "[admin][limits]") {
  // A request read in the same loop iteration as its connection's accept
  // once cancelled that connection's adoption, leaving it counted forever:
  // after 64 of those, every new admin connection was refused.
  Routemeter proxy(limits_config());
  int ok = 0;
  for (int i = 0; i < 300; ++i) {
    if (http_get(proxy.admin_port(), "/healthz").status == 200) ++ok;
  }
  CHECK(ok == 300);
}

TEST_CASE("an admin request head not sent within 10 s closes the connection", "[admin][limits]") {
  Routemeter proxy(limits_config());
  const uint16_t admin = proxy.admin_port();
  HttpClient slow(admin);
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(slow.send_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n"));  // never finished
  // Closed by the admin's 10 s deadline; 30 s only bounds the wait for it.
  CHECK(slow.wait_peer_closed(30s));
  CHECK(std::chrono::steady_clock::now() - start >= 9s);
  CHECK(healthz_ok(admin));
}
