// Upstream faults: each maps to one answer (502/504, or a closed client
// connection mid-body), one upstream_errors_total kind, and the process
// keeps serving.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

double errors(const std::string& text, const char* kind) {
  return metric_value(text, std::string("routemeter_upstream_errors_total{kind=\"") + kind +
                                "\",upstream=\"app\"}");
}

}  // namespace

TEST_CASE("connection refused answers 502 and counts connect_refused", "[proxy][fault]") {
  const RefusingPort closed;
  Routemeter proxy(proxy_config("\"127.0.0.1:" + std::to_string(closed.port()) + "\""));
  Response r = http_get(proxy.proxy_port(), "/x");
  CHECK(r.status == 502);
  std::string m = scrape_settled(proxy.admin_port());
  INFO(m);
  CHECK(errors(m, "connect_refused") == 1);
  CHECK(metric_value(m,
                     "routemeter_requests_total{code=\"502\",method=\"GET\",route=\"all\","
                     "upstream=\"app\"}") == 1);
  CHECK(http_get(proxy.proxy_port(), "/y").status == 502);
  CHECK(proxy.process().running());
}

TEST_CASE("a connect that does not complete in connect_timeout answers 504", "[proxy][fault]") {
  // A listener whose accept queue is full: further SYNs are dropped, so the
  // connect hangs. Backlog 0 and one connection already queued.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(lfd, 0);
  socklen_t len = sizeof a;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(c);
  }
  Routemeter proxy(proxy_config("\"127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "\"", "", "",
                                "connect_timeout = \"300ms\""));
  Response r = http_get(proxy.proxy_port(), "/x", {}, 5s);
  CHECK(r.status == 504);
  CHECK(errors(scrape_settled(proxy.admin_port()), "connect_timeout") == 1);
  for (int c : fillers) ::close(c);
  ::close(lfd);
}

TEST_CASE("no response head within response_timeout answers 504", "[proxy][fault]") {
  ProxyFixture f([](const ReceivedRequest&) { return Reply::never_answer(); }, "", "",
                 "response_timeout = \"300ms\"");
  Response r = http_get(f.port(), "/slow");
  CHECK(r.status == 504);
  CHECK(errors(f.metrics(), "response_timeout") == 1);
  f.backend.set_handler([](const ReceivedRequest&) { return Reply::ok("back"); });
  CHECK(http_get(f.port(), "/").body == "back");
}

TEST_CASE("garbage instead of HTTP answers 502 bad_response", "[proxy][fault]") {
  ProxyFixture f(
      [](const ReceivedRequest&) { return Reply::raw_bytes("SSH-2.0-OpenSSH\r\n\r\n"); });
  Response r = http_get(f.port(), "/");
  CHECK(r.status == 502);
  CHECK(errors(f.metrics(), "bad_response") == 1);
}

TEST_CASE("an upstream that closes before answering gets 502 reset", "[proxy][fault]") {
  ProxyFixture f([](const ReceivedRequest&) { return Reply::close_immediately(); });
  Response r = http_get(f.port(), "/");
  CHECK(r.status == 502);
  CHECK(errors(f.metrics(), "reset") == 1);
}

TEST_CASE(
    "an upstream that dies mid-body closes the client connection, never a silent "
    "truncation",
    "[proxy][fault]") {
  ProxyFixture f(
      [](const ReceivedRequest&) { return Reply::partial_body_then_close(100000, 1000); });
  HttpClient client(f.port());
  Response r = client.request("GET", "/");
  CHECK(r.status == 200);
  CHECK_FALSE(r.complete);
  CHECK(r.body_bytes < 100000);
  CHECK(client.wait_peer_closed(kDefaultTimeout));
  CHECK(errors(f.metrics(), "reset") == 1);
  CHECK(http_get(f.port(), "/").status == 200);
}

TEST_CASE("no route answers 404 from the proxy and is counted as unmatched", "[proxy][fault]") {
  const std::string routes = R"(
[[route]]
name = "only"
path = "/only"
upstream = "app"
)";
  ProxyFixture f(nullptr, routes);
  CHECK(http_get(f.port(), "/other").status == 404);
  CHECK(metric_value(f.metrics(),
                     "routemeter_requests_total{code=\"404\",method=\"GET\","
                     "route=\"unmatched\",upstream=\"none\"}") == 1);
  CHECK(f.backend.request_count() == 0);
}

namespace {

double server_up(uint16_t admin_port, const std::string& server) {
  return find_metric(scrape_settled(admin_port), "routemeter_upstream_server_up",
                     {{"upstream", "app"}, {"server", server}})
      .value_or(std::nan(""));
}

}  // namespace

TEST_CASE("a sole server marked down is still tried: once restarted it serves the next request",
          "[proxy][fault][health]") {
  auto backend = std::make_unique<TestBackend>();
  const uint16_t backend_port = backend->port();
  const std::string server = backend->address();
  // A probe interval of an hour: only trying down servers can bring it back.
  Routemeter proxy(
      proxy_config("\"" + server + "\"", "", "", "[upstream.health]\ninterval = \"1h\""));
  const uint16_t admin = proxy.admin_port();
  REQUIRE(http_get(proxy.proxy_port(), "/before").status == 200);
  CHECK(server_up(admin, server) == 1);

  backend->stop();
  // unhealthy_after (3) failed connects in a row mark it down; bounded loop.
  int failed = 0;
  while (server_up(admin, server) != 0 && failed < 10) {
    CHECK(http_get(proxy.proxy_port(), "/down").status == 502);
    ++failed;
  }
  REQUIRE(server_up(admin, server) == 0);

  // Every server is down: the proxy still tries, so the restarted server
  // answers the very next request and is up again.
  const TestBackend restarted(nullptr, backend_port);
  Response r = http_get(proxy.proxy_port(), "/after");
  CHECK(r.status == 200);
  CHECK(r.body == "ok");
  CHECK(server_up(admin, server) == 1);
  CHECK(restarted.request_count() == 1);
}

TEST_CASE("every proxy-made 502 and 504 is counted in exactly one upstream_errors_total kind",
          "[proxy][fault][metrics]") {
  TestBackend backend([](const ReceivedRequest& req) {
    if (req.target == "/hang") return Reply::never_answer();
    if (req.target == "/garbage") return Reply::raw_bytes("SSH-2.0-OpenSSH\r\n\r\n");
    if (req.target == "/close") return Reply::close_immediately();
    if (req.target == "/own502") return Reply::with_status(502, "the server's own");
    return Reply::ok("fine");
  });
  const RefusingPort dead;  // held for the whole test: always refused
  Routemeter proxy(fill(R"([server]
listen = ["127.0.0.1:0"]
workers = 1

[admin]
listen = "127.0.0.1:0"

[log]
access = "off"

[[upstream]]
name = "app"
servers = ["{{backend}}"]
response_timeout = "300ms"

[[upstream]]
name = "dead"
servers = ["127.0.0.1:{{dead}}"]

[[route]]
name = "dead"
path_prefix = "/dead/"
upstream = "dead"

[[route]]
name = "all"
path_prefix = "/"
upstream = "app"
)",
                        {{"backend", backend.address()}, {"dead", std::to_string(dead.port())}}));
  const uint16_t port = proxy.proxy_port();
  CHECK(http_get(port, "/fine").status == 200);
  CHECK(http_get(port, "/hang").status == 504);
  CHECK(http_get(port, "/garbage").status == 502);
  CHECK(http_get(port, "/close").status == 502);
  CHECK(http_get(port, "/own502").status == 502);  // relayed: not an upstream fault
  // Six refused: the third marks "dead" down, the rest find every server down.
  for (int i = 0; i < 6; ++i) CHECK(http_get(port, "/dead/x").status == 502);

  const std::string m = scrape_quiescent(proxy.admin_port());
  INFO(m);
  const double proxy_made = sum_metric(m, "routemeter_requests_total", {{"code", "502"}}) +
                            sum_metric(m, "routemeter_requests_total", {{"code", "504"}}) - 1;
  CHECK(proxy_made == 9);
  CHECK(sum_metric(m, "routemeter_upstream_errors_total") == proxy_made);
  CHECK(sum_metric(m, "routemeter_upstream_errors_total", {{"upstream", "dead"}}) == 6);
  CHECK(sum_metric(m, "routemeter_upstream_errors_total", {{"upstream", "app"}}) == 3);
  CHECK(find_metric(m, "routemeter_upstream_errors_total",
                    {{"upstream", "dead"}, {"kind", "no_healthy_server"}}) == 0);
}
