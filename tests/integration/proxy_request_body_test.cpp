// A request body streams to the upstream as it arrives (docs/http.md,
// "Request bodies"): what happens when it breaks, stalls or is cut short
// after forwarding began, and what happens to the rest of a body nobody
// wants. The memory bounds: proxy_body_memory_test.cpp.
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

Reply echo_digest(const ReceivedRequest& req) {
  return Reply::ok(std::to_string(req.body.size()) + " " + std::to_string(fnv1a(req.body)));
}

double requests(const std::string& metrics, const char* method, const char* code) {
  return metric_value(metrics, std::string("routemeter_requests_total{code=\"") + code +
                                   "\",method=\"" + method + "\",route=\"all\",upstream=\"app\"}");
}

// The head and the first body bytes went upstream: forwarding began.
void wait_forwarding_began(const ProxyFixture& f) {
  REQUIRE(wait_until([&] { return f.backend.bytes_read() > 0; }));
}

// The upstream connection the proxy opened is gone, and it carried no
// complete request.
void check_upstream_request_cut(const ProxyFixture& f) {
  CHECK(wait_until([&] { return f.backend.connections_open() == 0; }));
  CHECK(f.backend.request_count() == 0);
}

}  // namespace

TEST_CASE(
    "a chunked body whose framing breaks after forwarding began gets 400 and cuts the "
    "upstream request",
    "[proxy][body]") {
  ProxyFixture f(echo_digest);
  HttpClient client(f.port());
  REQUIRE(client.send_raw(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  wait_forwarding_began(f);
  REQUIRE(client.send_raw("zz\r\nbroken\r\n"));
  Response r = client.read_response();
  CHECK(r.status == 400);
  CHECK(client.wait_peer_closed(5s));
  check_upstream_request_cut(f);
  // The next request gets a new upstream connection: the cut one was not reused.
  CHECK(http_get(f.port(), "/next").status == 200);
  CHECK(f.backend.connections_accepted() == 2);
  const std::string m = f.metrics();
  INFO(m);
  CHECK(requests(m, "POST", "400") == 1);
  CHECK(sum_metric(m, "routemeter_upstream_errors_total") == 0);
}

TEST_CASE("a chunked body that outgrows max_body_bytes after forwarding began gets 413",
          "[proxy][body]") {
  ProxyFixture f(echo_digest, "", "max_body_bytes = \"1KiB\"");
  HttpClient client(f.port());
  const std::string part(600, 'x');
  REQUIRE(client.send_raw(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + part + "\r\n"));
  wait_forwarding_began(f);
  REQUIRE(client.send_raw("258\r\n" + part + "\r\n0\r\n\r\n"));
  Response r = client.read_response();
  CHECK(r.status == 413);
  check_upstream_request_cut(f);
  const std::string m = f.metrics();
  INFO(m);
  CHECK(requests(m, "POST", "413") == 1);
}

TEST_CASE("a client that stops sending its body gets 408 after client_body_timeout",
          "[proxy][body]") {
  ProxyFixture f(echo_digest, "", "client_body_timeout = \"300ms\"");
  HttpClient client(f.port());
  const auto start = Clock::now();
  REQUIRE(client.send_raw("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"));
  wait_forwarding_began(f);
  Response r = client.read_response();
  CHECK(r.status == 408);
  CHECK(Clock::now() - start >= 300ms);
  check_upstream_request_cut(f);
  const std::string m = f.metrics();
  INFO(m);
  CHECK(requests(m, "POST", "408") == 1);
  CHECK(sum_metric(m, "routemeter_upstream_errors_total") == 0);
}

TEST_CASE("a client that resets in the middle of its body cuts the upstream request (499)",
          "[proxy][body]") {
  ProxyFixture f(echo_digest);
  HttpClient client(f.port());
  REQUIRE(client.send_raw("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789"));
  wait_forwarding_began(f);
  const linger reset{1, 0};
  setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  client.close();
  check_upstream_request_cut(f);
  const std::string m = scrape_quiescent(f.proxy.admin_port());
  INFO(m);
  CHECK(requests(m, "POST", "499") == 1);
}

TEST_CASE(
    "the body of a request answered before it arrived is read and dropped, and the "
    "connection serves the next request",
    "[proxy][body]") {
  // No route for /other: 404 at once; the 256 KiB body that follows is
  // dropped without being held, and the connection stays usable.
  const std::string routes =
      "[[route]]\nname = \"all\"\npath_prefix = \"/api\"\nupstream = \"app\"\n";
  ProxyFixture f(echo_digest, routes);
  HttpClient client(f.port());
  const std::string body = pattern_bytes(0, 256 * 1024);
  REQUIRE(client.send_raw("POST /other HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n"));
  Response nf = client.read_response();
  CHECK(nf.status == 404);
  REQUIRE(client.send_raw(body));
  Response r = client.request("POST", "/api/x", {}, "abc");
  CHECK(r.status == 200);
  CHECK(r.body == "3 " + std::to_string(fnv1a("abc")));
  CHECK(f.backend.request_count() == 1);
}

TEST_CASE("a request body larger than the window reaches the upstream intact, chunked or not",
          "[proxy][body]") {
  ProxyFixture f(echo_digest, "", "max_body_bytes = \"64MiB\"");
  const std::string body = pattern_bytes(0, 5 * kMiB + 123);
  HttpClient client(f.port(), 30s);
  Response r = client.request("POST", "/up", {}, body);
  CHECK(r.status == 200);
  CHECK(r.body == std::to_string(body.size()) + " " + std::to_string(fnv1a(body)));
  // Chunked, in chunks that do not line up with any buffer.
  std::string chunked;
  for (size_t at = 0; at < body.size(); at += 77777) {
    const std::string piece = body.substr(at, 77777);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    chunked += size + piece + "\r\n";
  }
  chunked += "0\r\n\r\n";
  REQUIRE(client.send_request("POST", "/up", {{"Transfer-Encoding", "chunked"}}, chunked));
  Response rc = client.read_response();
  CHECK(rc.status == 200);
  CHECK(rc.body == std::to_string(body.size()) + " " + std::to_string(fnv1a(body)));
  const std::string m = f.metrics();
  CHECK(metric_value(m, "routemeter_request_bytes_total{route=\"all\",upstream=\"app\"}") ==
        2.0 * static_cast<double>(body.size()));
}
