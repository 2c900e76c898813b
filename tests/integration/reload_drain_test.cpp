// Live reload (SIGHUP, POST /-/reload) and draining (SIGTERM/SIGINT).
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

std::string two_route_config(const std::string& servers, const std::string& second_route) {
  return proxy_config(servers, R"(
[[route]]
name = "a"
path_prefix = "/a/"
upstream = "app"
)" + second_route);
}

Response post_reload(uint16_t admin_port) {
  HttpClient c(admin_port);
  return c.request("POST", "/-/reload", {{"Connection", "close"}});
}

}  // namespace

TEST_CASE("reload adds, changes and removes routes; kept series keep their values", "[reload]") {
  TestBackend backend([](const ReceivedRequest& r) { return Reply::ok(r.target); });
  const std::string servers = "\"" + backend.address() + "\"";
  Routemeter proxy(two_route_config(servers, R"(
[[route]]
name = "b"
path_prefix = "/b/"
upstream = "app"
)"));
  const uint16_t port = proxy.proxy_port();
  CHECK(http_get(port, "/a/1").status == 200);
  CHECK(http_get(port, "/b/1").status == 200);
  CHECK(http_get(port, "/c/1").status == 404);

  // b removed, c added (with strip_prefix), via SIGHUP.
  proxy.write_config(two_route_config(servers, R"(
[[route]]
name = "c"
path_prefix = "/c/"
strip_prefix = true
upstream = "app"
)"));
  REQUIRE(proxy.reload());
  REQUIRE(wait_until([&] { return http_get(port, "/c/x").status == 200; }));
  CHECK(http_get(port, "/c/y").body == "/y");
  CHECK(http_get(port, "/b/1").status == 404);
  std::string m = scrape_settled(proxy.admin_port());
  const std::string a_ok =
      "routemeter_requests_total{code=\"200\",method=\"GET\",route=\"a\",upstream=\"app\"}";
  CHECK(metric_value(m, a_ok) == 1);                  // survived the reload
  CHECK(m.find("route=\"b\"") == std::string::npos);  // gone with its route
  CHECK(metric_value(m, "routemeter_config_reloads_total{result=\"success\"}") == 1);
  CHECK(metric_value(m, "routemeter_config_last_reload_successful") == 1);

  // c changed to an exact path, via POST /-/reload.
  proxy.write_config(two_route_config(servers, R"(
[[route]]
name = "c"
path = "/c/exact"
upstream = "app"
)"));
  Response r = post_reload(proxy.admin_port());
  CHECK(r.status == 200);
  CHECK(http_get(port, "/c/exact").body == "/c/exact");
  CHECK(http_get(port, "/c/y").status == 404);
  CHECK(http_get(port, "/a/2").status == 200);
  m = scrape_settled(proxy.admin_port());
  CHECK(metric_value(m, a_ok) == 2);
}

TEST_CASE("an invalid config on reload keeps the old one and says why", "[reload]") {
  ProxyFixture f;
  f.proxy.write_config("[server]\nlisten = [\"127.0.0.1:0\"]\nworkerz = 3\n");
  Response r = post_reload(f.proxy.admin_port());
  CHECK(r.status == 400);
  CHECK(r.body.find(f.proxy.config_path() + ":3:1") != std::string::npos);
  CHECK(http_get(f.port(), "/still").status == 200);
  CHECK(f.proxy.process().wait_for_stderr("reload failed").has_value());
  REQUIRE(f.proxy.reload());  // SIGHUP: same outcome
  std::string m;
  CHECK(wait_until([&] {
    m = scrape_settled(f.proxy.admin_port());
    return metric_value(m, "routemeter_config_reloads_total{result=\"failure\"}") == 2;
  }));
  CHECK(metric_value(m, "routemeter_config_last_reload_successful") == 0);
  CHECK(http_get(f.port(), "/still").status == 200);
}

TEST_CASE("no request is lost while the config reloads repeatedly under load", "[reload]") {
  TestBackend backend([](const ReceivedRequest& r) { return Reply::ok("ok" + r.target); });
  const std::string servers = "\"" + backend.address() + "\"";
  const std::string config = proxy_config(servers, "", "workers = 2");
  Routemeter proxy(config);
  const uint16_t port = proxy.proxy_port();
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      // Keep-alive and fresh connections alike; bounded by count and by `stop`.
      for (int i = 0; i < 3000 && !stop; ++i) {
        HttpClient c(port, 5s);
        for (int k = 0; k < 10 && !stop; ++k) {
          std::string path =
              "/" + std::to_string(t) + "/" + std::to_string(i) + "/" + std::to_string(k);
          Response r = c.request("GET", path);
          ++sent;
          if (r.status != 200 || r.body != "ok" + path) ++bad;
        }
      }
    });
  }
  // Each reload comes after the clients made progress on the previous config
  // (at least 20 more answers), however fast or slow the machine is.
  auto progress = [&] {
    const int from = sent.load();
    return wait_until([&] { return sent.load() >= from + 20; });
  };
  for (int n = 0; n < 12; ++n) {
    REQUIRE(progress());
    proxy.write_config(config + "\n# reload " + std::to_string(n) + "\n");
    if (n % 2 == 0) {
      REQUIRE(proxy.reload());
    } else {
      CHECK(post_reload(proxy.admin_port()).status == 200);
    }
  }
  REQUIRE(progress());  // requests on the last config too
  stop = true;
  for (auto& c : clients) c.join();
  INFO("sent " << sent.load());
  CHECK(sent.load() > 100);
  CHECK(bad.load() == 0);
  std::string m = scrape_settled(proxy.admin_port());
  CHECK(metric_value(m, "routemeter_config_reloads_total{result=\"success\"}") == 12);
  CHECK(sum_metric(m, "routemeter_requests_total", {{"code", "200"}}) == sent.load());
}

TEST_CASE("SIGTERM drains: in-flight requests finish, new connections are refused, exit 0",
          "[drain]") {
  Gate finish;  // the backend answers once the drain has begun
  ProxyFixture f(
      [finish](const ReceivedRequest&) { return Reply::ok("slow but complete").held_by(finish); });
  HttpClient slow(f.port());
  REQUIRE(slow.send_request("GET", "/slow"));
  REQUIRE(f.backend.wait_for_requests(1));
  REQUIRE(f.proxy.process().signal(SIGTERM));
  REQUIRE(wait_until([&] { return http_get(f.proxy.admin_port(), "/readyz").status == 503; }));
  finish.open();
  Response r = slow.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "slow but complete");
  CHECK(r.header("connection") == "close");
  auto exit = f.proxy.process().wait_exit(5s);
  REQUIRE(exit);
  CHECK(exit->ok());
  HttpClient late(f.port(), 1s);
  CHECK_FALSE(late.connected());
}

TEST_CASE("a drain that outlasts drain_timeout is cut off and still exits 0", "[drain]") {
  ProxyFixture f([](const ReceivedRequest&) { return Reply::never_answer(); }, "",
                 "drain_timeout = \"300ms\"");
  HttpClient stuck(f.port());
  REQUIRE(stuck.send_request("GET", "/stuck"));
  REQUIRE(f.backend.wait_for_requests(1));
  REQUIRE(f.proxy.process().signal(SIGINT));
  auto exit = f.proxy.process().wait_exit(5s);
  REQUIRE(exit);
  CHECK(exit->ok());
}

TEST_CASE("draining closes idle keep-alive connections at once", "[drain]") {
  ProxyFixture f;
  HttpClient idle(f.port());
  CHECK(idle.request("GET", "/").status == 200);
  REQUIRE(f.proxy.process().signal(SIGTERM));
  CHECK(idle.wait_peer_closed(kDefaultTimeout));
  auto exit = f.proxy.process().wait_exit(5s);
  REQUIRE(exit);
  CHECK(exit->ok());
}
