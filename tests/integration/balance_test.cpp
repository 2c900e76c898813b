// Load balancing through the real proxy (docs/upstreams.md): weights over
// 10,000 requests, and random_two keeping requests off a busy server.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

TEST_CASE("weights 1 and 3 send exactly a quarter of 10,000 requests to the first server",
          "[proxy][balance]") {
  TestBackend a([](const ReceivedRequest&) { return Reply::ok("a"); });
  TestBackend b([](const ReceivedRequest&) { return Reply::ok("b"); });
  Routemeter proxy(
      proxy_config("\"" + a.address() + "\", { address = \"" + b.address() + "\", weight = 3 }", "",
                   "", "balance = \"round_robin\""));
  // One keep-alive connection: one worker, whose smooth round robin gives
  // a b b b a b b b ...
  HttpClient client(proxy.proxy_port());
  int to_a = 0;
  for (int i = 0; i < 10000; ++i) {
    const Response r = client.request("GET", "/x");
    REQUIRE(r.status == 200);
    to_a += r.body == "a" ? 1 : 0;
  }
  CHECK(to_a == 2500);
  CHECK(a.request_count() == 2500);
  CHECK(b.request_count() == 7500);
  CHECK(metric_value(scrape_settled(proxy.admin_port()),
                     "routemeter_requests_total{code=\"200\",method=\"GET\",route=\"all\","
                     "upstream=\"app\"}") == 10000);
}

TEST_CASE("random_two sends nothing to a server busy with a request while the other is idle",
          "[proxy][balance]") {
  Gate gate;
  TestBackend a([gate](const ReceivedRequest& r) {
    return r.target == "/hold" ? Reply::ok("a").held_by(gate) : Reply::ok("a");
  });
  TestBackend b([](const ReceivedRequest&) { return Reply::ok("b"); });
  Routemeter proxy(proxy_config("\"" + a.address() + "\", \"" + b.address() + "\"", "", "",
                                "balance = \"random_two\""));
  const uint16_t port = proxy.proxy_port();
  // Until one /hold lands on a (which holds it), those that land on b are
  // answered at once.
  std::unique_ptr<HttpClient> held;
  for (int i = 0; i < 50 && !held; ++i) {
    auto client = std::make_unique<HttpClient>(port);
    const size_t on_b = b.request_count();  // before sending: b may count it at once
    REQUIRE(client->send_request("GET", "/hold"));
    REQUIRE(wait_until([&] { return a.request_count() == 1 || b.request_count() > on_b; }));
    if (a.request_count() == 1) {
      held = std::move(client);
    } else {
      CHECK(client->read_response().body == "b");
    }
  }
  REQUIRE(held);
  // a has one request in flight, b none: both are drawn every time, b wins.
  HttpClient client(port);
  for (int i = 0; i < 50; ++i) CHECK(client.request("GET", "/x").body == "b");
  CHECK(a.request_count() == 1);
  gate.open();
  CHECK(held->read_response().body == "a");
}
