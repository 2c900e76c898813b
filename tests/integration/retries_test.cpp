// Retries through the real binary ([[upstream]] retries, retry_on,
// retry_budget; docs/upstreams.md, "Retries"): what is tried again on which
// server, for which method and reason, with which request body, never after
// part of the answer reached the client, within the budget when every server
// is down, and a server killed under load costing no idempotent request.
// Every figure of /metrics is compared with what the clients and the
// backends saw; every wait has a deadline.
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

constexpr milliseconds kWait = 15s;
constexpr milliseconds kPoll = 50ms;

std::string quoted(const std::string& address) { return "\"" + address + "\""; }
std::string refusing(const RefusingPort& p) {
  return quoted("127.0.0.1:" + std::to_string(p.port()));
}

double retries(const std::string& m, const char* reason) {
  return find_metric(m, "routemeter_upstream_retries_total",
                     {{"upstream", "app"}, {"reason", reason}})
      .value_or(std::nan(""));
}

double errors(const std::string& m, const char* kind) {
  return find_metric(m, "routemeter_upstream_errors_total", {{"upstream", "app"}, {"kind", kind}})
      .value_or(std::nan(""));
}

double requests(const std::string& m, const char* method, const char* code) {
  return find_metric(m, "routemeter_requests_total",
                     {{"upstream", "app"}, {"route", "all"}, {"method", method}, {"code", code}})
      .value_or(0);
}

double per_server(const std::string& m, const std::string& server) {
  return sum_metric(m, "routemeter_upstream_server_requests_total",
                    {{"upstream", "app"}, {"server", server}});
}

double server_up(const std::string& m, const std::string& server) {
  return find_metric(m, "routemeter_upstream_server_up", {{"upstream", "app"}, {"server", server}})
      .value_or(std::nan(""));
}

// The promtool lint every test ends with.
void check_lint(const std::string& m) {
  const CommandResult lint = promtool_check_metrics(m);
  INFO(lint.out << lint.err);
  CHECK(lint.status.ok());
}

}  // namespace

TEST_CASE("retries: every reason of every upstream is exposed from the start at 0",
          "[proxy][retry]") {
  ProxyFixture f;
  const std::string m = scrape(f.proxy.admin_port());
  for (const char* reason :
       {"connect_failure", "reset", "502", "503", "504", "response_timeout", "stale_connection"}) {
    INFO(reason);
    CHECK(retries(m, reason) == 0);
  }
}

TEST_CASE("retries: a connect failure is retried on another server for a POST with its body",
          "[proxy][retry]") {
  const RefusingPort closed;
  TestBackend b([](const ReceivedRequest&) { return Reply::ok("b"); });
  // Round robin starts with the refusing server. The body is larger than the
  // 64 KiB window: only its start is at hand when the connect fails, the rest
  // streams to the second server.
  Routemeter proxy(proxy_config(refusing(closed) + ", " + quoted(b.address()), "",
                                "[metrics]\nper_server = true\n"));
  const std::string body = pattern_bytes(0, 200 * 1024);
  HttpClient c(proxy.proxy_port());
  const Response r = c.request("POST", "/upload", {}, body);
  CHECK(r.status == 200);
  CHECK(r.body == "b");
  REQUIRE(b.request_count() == 1);
  CHECK(b.request(0).method == "POST");
  CHECK(b.request(0).body.size() == body.size());
  CHECK(b.request(0).body == body);
  c.close();
  const std::string m = scrape_quiescent(proxy.admin_port());
  INFO(m);
  CHECK(requests(m, "POST", "200") == 1);
  CHECK(sum_metric(m, "routemeter_requests_total") == 1);
  CHECK(retries(m, "connect_failure") == 1);
  CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 1);
  // No proxy-made answer, so no upstream fault; each attempt by its server.
  CHECK(sum_metric(m, "routemeter_upstream_errors_total") == 0);
  CHECK(per_server(m, "127.0.0.1:" + std::to_string(closed.port())) == 1);
  CHECK(per_server(m, b.address()) == 1);
  check_lint(m);
}

TEST_CASE("retries: a reset after the request was read is retried for PUT and never for POST",
          "[proxy][retry]") {
  TestBackend a([](const ReceivedRequest&) { return Reply::reset(); });
  TestBackend b([](const ReceivedRequest&) { return Reply::ok("b"); });
  const std::string servers = quoted(a.address()) + ", " + quoted(b.address());
  const std::string body(10000, 'p');

  SECTION("POST: 502, the second server never sees it, even with every reason listed") {
    Routemeter proxy(proxy_config(servers, "", "",
                                  "retry_on = [\"connect_failure\", \"reset\", \"502\", \"503\", "
                                  "\"504\", \"response_timeout\"]\n"));
    HttpClient c(proxy.proxy_port());
    const Response r = c.request("POST", "/p", {}, body);
    CHECK(r.status == 502);
    c.close();
    REQUIRE(a.request_count() == 1);
    CHECK(a.request(0).body == body);
    CHECK(b.request_count() == 0);
    const std::string m = scrape_quiescent(proxy.admin_port());
    INFO(m);
    CHECK(requests(m, "POST", "502") == 1);
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 0);
    CHECK(errors(m, "reset") == 1);
  }
  SECTION("PUT with reset in retry_on (the default): retried on the other server, body intact") {
    Routemeter proxy(proxy_config(servers));
    HttpClient c(proxy.proxy_port());
    const Response r = c.request("PUT", "/p", {}, body);
    CHECK(r.status == 200);
    CHECK(r.body == "b");
    c.close();
    REQUIRE(a.request_count() == 1);
    REQUIRE(b.request_count() == 1);
    CHECK(a.request(0).body == body);
    CHECK(b.request(0).method == "PUT");
    CHECK(b.request(0).body == body);
    const std::string m = scrape_quiescent(proxy.admin_port());
    INFO(m);
    CHECK(requests(m, "PUT", "200") == 1);
    CHECK(sum_metric(m, "routemeter_requests_total") == 1);
    CHECK(retries(m, "reset") == 1);
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 1);
    CHECK(sum_metric(m, "routemeter_upstream_errors_total") == 0);
    check_lint(m);
  }
  SECTION("PUT without reset in retry_on: 502") {
    Routemeter proxy(proxy_config(servers, "", "", "retry_on = [\"connect_failure\"]\n"));
    HttpClient c(proxy.proxy_port());
    CHECK(c.request("PUT", "/p", {}, body).status == 502);
    c.close();
    CHECK(a.request_count() == 1);
    CHECK(b.request_count() == 0);
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 0);
    CHECK(requests(m, "PUT", "502") == 1);
  }
  SECTION("PUT with a body past the 64 KiB window: its start is gone, so no retry") {
    Routemeter proxy(proxy_config(servers));
    HttpClient c(proxy.proxy_port());
    const std::string large = pattern_bytes(0, 100 * 1024);
    CHECK(c.request("PUT", "/p", {}, large).status == 502);
    c.close();
    REQUIRE(a.request_count() == 1);
    CHECK(a.request(0).body == large);
    CHECK(b.request_count() == 0);
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 0);
    CHECK(errors(m, "reset") == 1);
  }
  SECTION("retries = 0: nothing is retried, not even a connect failure") {
    const RefusingPort closed;
    Routemeter proxy(proxy_config(refusing(closed) + ", " + servers, "", "", "retries = 0\n"));
    CHECK(http_get(proxy.proxy_port(), "/x").status == 502);
    CHECK(http_get(proxy.proxy_port(), "/x").status == 502);  // a's reset
    CHECK(http_get(proxy.proxy_port(), "/x").status == 200);
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 0);
  }
}

TEST_CASE("retries: a 503 is retried only when retry_on lists it", "[proxy][retry]") {
  TestBackend a([](const ReceivedRequest&) { return Reply::with_status(503, "busy"); });
  TestBackend b([](const ReceivedRequest&) { return Reply::ok("b"); });
  const std::string servers = quoted(a.address()) + ", " + quoted(b.address());

  SECTION("not listed (the default): the client gets the 503") {
    Routemeter proxy(proxy_config(servers));
    const Response r = http_get(proxy.proxy_port(), "/x");
    CHECK(r.status == 503);
    CHECK(r.body == "busy");
    CHECK(b.request_count() == 0);
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 0);
    CHECK(requests(m, "GET", "503") == 1);
  }
  SECTION("listed: its body is dropped with its connection and b answers") {
    Routemeter proxy(
        proxy_config(servers, "", "[metrics]\nper_server = true\n", "retry_on = [\"503\"]\n"));
    const Response r = http_get(proxy.proxy_port(), "/x");
    CHECK(r.status == 200);
    CHECK(r.body == "b");
    CHECK(a.request_count() == 1);
    CHECK(b.request_count() == 1);
    const std::string m = scrape_quiescent(proxy.admin_port());
    INFO(m);
    CHECK(retries(m, "503") == 1);
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 1);
    CHECK(requests(m, "GET", "200") == 1);
    CHECK(sum_metric(m, "routemeter_requests_total") == 1);
    // An answer is no fault; a's 503 counts for a.
    CHECK(sum_metric(m, "routemeter_upstream_errors_total") == 0);
    CHECK(find_metric(m, "routemeter_upstream_server_requests_total",
                      {{"upstream", "app"}, {"server", a.address()}, {"code", "503"}}) == 1);
    CHECK(find_metric(m, "routemeter_upstream_server_requests_total",
                      {{"upstream", "app"}, {"server", b.address()}, {"code", "200"}}) == 1);
    // The connection that carried the 503 was closed, not reused.
    CHECK(wait_until([&] { return a.connections_open() == 0; }, kWait));
    check_lint(m);
  }
  SECTION("listed, but both servers answer 503: the last answer goes to the client") {
    TestBackend c([](const ReceivedRequest&) { return Reply::with_status(503, "c"); });
    Routemeter proxy(proxy_config(quoted(a.address()) + ", " + quoted(c.address()), "", "",
                                  "retry_on = [\"503\"]\nretries = 1\n"));
    const Response r = http_get(proxy.proxy_port(), "/x");
    CHECK(r.status == 503);
    CHECK(r.body == "c");
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(retries(m, "503") == 1);
    CHECK(requests(m, "GET", "503") == 1);
  }
}

TEST_CASE("retries: a response timeout is retried when listed, with a fresh timeout",
          "[proxy][retry]") {
  TestBackend a([](const ReceivedRequest&) { return Reply::never_answer(); });
  TestBackend b([](const ReceivedRequest&) { return Reply::ok("b"); });
  const std::string servers = quoted(a.address()) + ", " + quoted(b.address());

  SECTION("listed: b answers") {
    Routemeter proxy(proxy_config(
        servers, "", "", "response_timeout = \"300ms\"\nretry_on = [\"response_timeout\"]\n"));
    const Response r = http_get(proxy.proxy_port(), "/x", {}, kWait);
    CHECK(r.status == 200);
    CHECK(b.request_count() == 1);
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(retries(m, "response_timeout") == 1);
    CHECK(sum_metric(m, "routemeter_upstream_errors_total") == 0);
    CHECK(requests(m, "GET", "200") == 1);
  }
  SECTION("not listed (the default): 504") {
    Routemeter proxy(proxy_config(servers, "", "", "response_timeout = \"300ms\"\n"));
    CHECK(http_get(proxy.proxy_port(), "/x", {}, kWait).status == 504);
    CHECK(b.request_count() == 0);
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 0);
    CHECK(requests(m, "GET", "504") == 1);
  }
}

TEST_CASE("retries: never once part of the answer reached the client", "[proxy][retry]") {
  TestBackend b([](const ReceivedRequest&) { return Reply::ok("b"); });
  const std::string every =
      "retry_on = [\"connect_failure\", \"reset\", \"502\", \"503\", \"504\", "
      "\"response_timeout\"]\nretries = 2\n";

  SECTION("the head and part of the body went out: the client's answer is cut, not retried") {
    TestBackend a([](const ReceivedRequest&) { return Reply::partial_body_then_close(5000, 100); });
    Routemeter proxy(proxy_config(quoted(a.address()) + ", " + quoted(b.address()), "", "", every));
    const Response r = http_get(proxy.proxy_port(), "/x");
    CHECK(r.status == 200);
    CHECK_FALSE(r.complete);
    CHECK(b.request_count() == 0);
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 0);
    CHECK(errors(m, "reset") == 1);
  }
  SECTION("an interim 103 went out: a close after it is answered 502, not retried") {
    TestBackend a([](const ReceivedRequest&) {
      return Reply::raw_bytes("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
    });
    Routemeter proxy(proxy_config(quoted(a.address()) + ", " + quoted(b.address()), "", "", every));
    HttpClient c(proxy.proxy_port());
    REQUIRE(c.send_request("GET", "/x"));
    const Response interim = c.read_response();
    CHECK(interim.status == 103);
    CHECK(c.read_response().status == 502);
    c.close();
    CHECK(b.request_count() == 0);
    const std::string m = scrape_quiescent(proxy.admin_port());
    CHECK(sum_metric(m, "routemeter_upstream_retries_total") == 0);
    CHECK(requests(m, "GET", "502") == 1);
  }
}

TEST_CASE("retries: with every server down the budget bounds the attempts and all answer 502",
          "[proxy][retry]") {
  const RefusingPort p1;
  const RefusingPort p2;
  const RefusingPort p3;
  // retries = 5: the budget, not the count, is what stops them.
  Routemeter proxy(proxy_config(refusing(p1) + ", " + refusing(p2) + ", " + refusing(p3), "", "",
                                "retries = 5\nretry_budget = 0.2\n"));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::atomic<int> answered_502{0};
  std::atomic<int> other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&] {
      HttpClient c(proxy.proxy_port());
      for (int i = 0; i < kPerThread; ++i) {
        const Response r = c.request("GET", "/x");
        ++(r.status == 502 ? answered_502 : other);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  CHECK(answered_502 == kThreads * kPerThread);
  CHECK(other == 0);
  const std::string m = scrape_quiescent(proxy.admin_port());
  INFO(m);
  constexpr double kRequests = kThreads * kPerThread;
  CHECK(requests(m, "GET", "502") == kRequests);
  // One fault per 502; every attempt is a refused connect, the retries are
  // those beyond the first.
  CHECK(errors(m, "connect_refused") == kRequests);
  CHECK(sum_metric(m, "routemeter_upstream_errors_total") == kRequests);
  const double retried = retries(m, "connect_failure");
  const double attempts = kRequests + retried;
  CHECK(sum_metric(m, "routemeter_upstream_retries_total") == retried);
  CHECK(attempts <= (kRequests * (1 + 0.2)) + 3);
  CHECK(retried >= 3);  // the three always allowed
  check_lint(m);
}

TEST_CASE("retries: a server killed under load costs no idempotent request", "[proxy][retry]") {
  constexpr milliseconds kInterval = 100ms;
  constexpr int kUnhealthyAfter = 2;
  constexpr int kHealthyAfter = 2;
  // What a loaded 2-core machine may add to the health checker's cadence;
  // more in a sanitizer build, whose main thread runs several times slower.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr milliseconds kSlack = 3s;
#else
  constexpr milliseconds kSlack = 1s;
#endif
  const Handler serve = [](const ReceivedRequest&) { return Reply::ok("ok"); };
  TestBackend a(serve);
  TestBackend b(serve);
  auto c = std::make_unique<TestBackend>(serve);
  const std::string c_address = c->address();
  const uint16_t c_port = c->port();
  Routemeter proxy(
      proxy_config(quoted(a.address()) + ", " + quoted(b.address()) + ", " + quoted(c_address), "",
                   "workers = 2\n[metrics]\nper_server = true\n",
                   "retries = 1\n[upstream.health]\npath = \"/healthz\"\ninterval = \"100ms\"\n"
                   "timeout = \"1s\"\nunhealthy_after = 2\nhealthy_after = 2\n"));
  const uint16_t admin = proxy.admin_port();
  REQUIRE(wait_until([&] { return server_up(scrape(admin), c_address) == 1; }, kWait, kPoll));

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      auto client = std::make_unique<HttpClient>(proxy.proxy_port());
      while (!stop) {
        ++sent;
        const Response r = client->request("GET", "/x");
        if (r.status == 200 && r.complete) {
          ++ok;
        } else {
          ++failed;
        }
        if (r.status == 0 || r.closed_by_peer) {
          client = std::make_unique<HttpClient>(proxy.proxy_port());
        }
      }
    });
  }
  const auto start = Clock::now();
  const auto count_x = [](const TestBackend& backend) {
    size_t n = 0;
    for (const ReceivedRequest& r : backend.requests()) n += r.target == "/x" ? 1 : 0;
    return n;
  };

  // Kill c after 3 s of traffic: out of the balance within unhealthy_after
  // checks, and from then on no attempt reaches it.
  std::this_thread::sleep_until(start + 3s);  // the load's length, not a synchronisation
  REQUIRE(c->request_count() > 0);
  c->stop();
  const auto killed = Clock::now();
  const size_t c_served_before = count_x(*c);
  std::string m;
  REQUIRE(wait_until([&] { return server_up(m = scrape(admin), c_address) == 0; }, kWait, 10ms));
  const auto down_after = Clock::now() - killed;
  CHECK(down_after <= (kUnhealthyAfter * kInterval) + kSlack);
  std::this_thread::sleep_until(killed + (kUnhealthyAfter * kInterval) + kSlack);
  const double c_attempts_down = per_server(scrape(admin), c_address);

  // Restart it on its port after 6 s: traffic again within healthy_after checks.
  std::this_thread::sleep_until(start + 6s);
  CHECK(per_server(scrape(admin), c_address) == c_attempts_down);  // none while down
  c = std::make_unique<TestBackend>(serve, c_port);
  const auto restarted = Clock::now();
  REQUIRE(wait_until([&] { return count_x(*c) > 0; }, kWait, 10ms));
  const auto back_after = Clock::now() - restarted;
  CHECK(back_after <= (kHealthyAfter * kInterval) + kSlack);

  std::this_thread::sleep_until(start + 10s);
  stop = true;
  for (std::thread& t : clients) t.join();
  m = scrape_quiescent(admin);
  INFO(m);
  CHECK(failed == 0);
  CHECK(ok == sent);
  CHECK(requests(m, "GET", "200") == static_cast<double>(ok));
  CHECK(sum_metric(m, "routemeter_requests_total") == static_cast<double>(sent));
  // Attempts beyond the first: the refused connects to c (no backend saw
  // them), and the connections that died with c: a reset, or a pooled
  // connection that failed (stale_connection). Whether c had read such a
  // request before it died is a race of the kill, so the backends' count is
  // bounded by them rather than equal to one of them.
  const size_t seen = count_x(a) + count_x(b) + c_served_before + count_x(*c);
  const double reset_retries = retries(m, "reset");
  const double connect_retries = retries(m, "connect_failure");
  const double stale_retries = retries(m, "stale_connection");
  CHECK(static_cast<double>(seen) >= static_cast<double>(sent));
  CHECK(static_cast<double>(seen) <= static_cast<double>(sent) + reset_retries + stale_retries);
  CHECK(sum_metric(m, "routemeter_upstream_retries_total") ==
        reset_retries + connect_retries + stale_retries);
  CHECK(reset_retries + connect_retries + stale_retries >= 1);  // the kill cost retries
  // No proxy-made 502/504 reached a client: no upstream fault counted.
  CHECK(sum_metric(m, "routemeter_upstream_errors_total") == 0);
  // Each attempt that reached (or tried to reach) a server, by its server.
  CHECK(sum_metric(m, "routemeter_upstream_server_requests_total") ==
        static_cast<double>(sent) + reset_retries + connect_retries);
  check_lint(m);
}
