// Request bodies on their way to the upstream: which timer bounds each phase
// of the exchange (docs/configuration.md, connect_timeout and
// response_timeout), and interim 1xx answers that arrive while the body is
// still being sent (docs/http.md).
//
// The kernel buffers up to tcp_wmem's maximum on the proxy's side of an
// upstream connection (plus the backend's receive buffer, kept small here),
// so what the proxy sees of a slow upstream is delayed by that much. The
// bodies are sized from it: the part of the body that reaches the upstream
// after the proxy wrote its last byte is read at full speed, and an upload
// is still under way when the upstream's first answer arrives.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr int kBackendReceiveBuffer = 128 * 1024;  // the kernel doubles it

double errors(const std::string& text, const char* kind) {
  return metric_value(text, std::string("routemeter_upstream_errors_total{kind=\"") + kind +
                                "\",upstream=\"app\"}");
}

// The most a TCP socket's send buffer grows to by itself (tcp_wmem's third
// field), plus what the backend's receive buffer holds: bytes the proxy has
// handed over that the backend has not read yet.
uint64_t kernel_buffering() {
  uint64_t low = 0;
  uint64_t initial = 0;
  uint64_t max = 0;
  std::ifstream in("/proc/sys/net/ipv4/tcp_wmem");
  if (!(in >> low >> initial >> max)) max = 4 * kMiB;  // the Linux default
  return max + 2 * kBackendReceiveBuffer;
}

// The body's size and digest as the backend got it. The backend answers
// within response_timeout of the last byte the proxy wrote, which includes
// hashing the whole body: word_digest keeps that short in sanitizer builds.
Reply echo_digest(const ReceivedRequest& req) {
  return Reply::ok(std::to_string(req.body.size()) + " " + std::to_string(word_digest(req.body)));
}

std::string digest(const std::string& body) {
  return std::to_string(body.size()) + " " + std::to_string(word_digest(body));
}

}  // namespace

TEST_CASE("a slow but moving upload outlasts response_timeout and gets its answer",
          "[proxy][upload]") {
  // The backend takes the first 8 MiB at 128 KiB per 60 ms (at least 3.78 s,
  // longer than response_timeout) but never stalls for long; the rest at full
  // speed. connect_timeout covers only the connect. response_timeout leaves
  // a loaded sanitizer build seconds for the rest and the backend's digest
  // (1 s was seen to run out under TSan at a load of 15).
  ProxyFixture f(echo_digest, "", "max_body_bytes = \"64MiB\"",
                 "connect_timeout = \"200ms\"\nresponse_timeout = \"3s\"");
  ReadPace pace;
  pace.bytes_per_tick = 128 * 1024;
  pace.tick = 60ms;
  pace.paced_bytes = 8 * kMiB;
  pace.receive_buffer = kBackendReceiveBuffer;
  f.backend.set_read_pace(pace);
  const std::string body = pattern_bytes(0, 8 * kMiB + kernel_buffering() + kMiB);

  HttpClient client(f.port(), 30s);
  const auto start = Clock::now();
  Response r = client.request("POST", "/upload", {}, body);
  const auto took = Clock::now() - start;
  CHECK(r.status == 200);
  CHECK(r.body == digest(body));
  // 63 ticks of the backend's bucket at the least: the upload took longer
  // than response_timeout, so a deadline that was not restarted by progress
  // would have fired.
  CHECK(took >= 3s);
  std::string m = f.metrics();
  INFO(m);
  CHECK(errors(m, "connect_timeout") == 0);
  CHECK(errors(m, "response_timeout") == 0);
}

TEST_CASE("an upstream that stops reading the body answers 504 after response_timeout",
          "[proxy][upload]") {
  ProxyFixture f(echo_digest, "", "max_body_bytes = \"64MiB\"",
                 "connect_timeout = \"200ms\"\nresponse_timeout = \"1s\"");
  ReadPace pace;
  pace.stop_after = kMiB;
  pace.receive_buffer = kBackendReceiveBuffer;
  f.backend.set_read_pace(pace);
  const std::string body = pattern_bytes(0, kMiB + kernel_buffering() + 2 * kMiB);

  HttpClient client(f.port(), 30s);
  const auto start = Clock::now();
  Response r = client.request("POST", "/upload", {}, body);
  const auto took = Clock::now() - start;
  CHECK(r.status == 504);
  CHECK(took >= 1s);  // response_timeout, not connect_timeout
  std::string m = f.metrics();
  INFO(m);
  CHECK(errors(m, "response_timeout") == 1);
  CHECK(errors(m, "connect_timeout") == 0);
  CHECK(f.backend.request_count() == 0);  // the backend never had the whole request
}

namespace {

constexpr char kEarlyHints[] = "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n";

// Two POSTs of `body` on one client connection: the first opens the upstream
// connection, the second reuses it from the pool. Each gets the 103, relayed,
// then the final answer, and the backend got each body intact.
void two_posts_through_one_upstream_connection(ProxyFixture& f, const std::string& body) {
  HttpClient client(f.port(), 10s);
  for (int i = 0; i < 2; ++i) {
    INFO("request " << i);
    REQUIRE(client.send_request("POST", "/upload", {}, body));
    Response hints = client.read_response();
    CHECK(hints.status == 103);
    CHECK(hints.headers.get("link") == "</x>");
    Response r = client.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == digest(body));
  }
  REQUIRE(f.backend.wait_for_requests(2));
  CHECK(f.backend.connections_accepted() == 1);
  CHECK(f.backend.request(1).connection_id == f.backend.request(0).connection_id);
  CHECK(f.backend.request(1).index_on_connection == 1);
  std::string m = f.metrics();
  INFO(m);
  CHECK(metric_value(m,
                     "routemeter_requests_total{code=\"200\",method=\"POST\",route=\"all\","
                     "upstream=\"app\"}") == 2);
}

}  // namespace

TEST_CASE("a 103 that arrives while the body is still being sent does not stop the upload",
          "[proxy][upload][interim]") {
  // The backend sends the 103 as soon as a request head arrives and reads the
  // body at 256 KiB per 20 ms: the body is larger than what the kernel can
  // buffer, so the proxy is still sending when the 103 reaches it.
  ProxyFixture f(echo_digest, "", "max_body_bytes = \"64MiB\"");
  f.backend.set_interim(kEarlyHints);
  ReadPace pace;
  pace.bytes_per_tick = 256 * 1024;
  pace.tick = 20ms;
  pace.receive_buffer = kBackendReceiveBuffer;
  f.backend.set_read_pace(pace);
  two_posts_through_one_upstream_connection(f, pattern_bytes(0, kernel_buffering() + 2 * kMiB));
}

TEST_CASE("a 103 before the final answer to a small POST is skipped", "[proxy][upload][interim]") {
  ProxyFixture f(echo_digest);
  f.backend.set_interim(kEarlyHints);
  two_posts_through_one_upstream_connection(f, pattern_bytes(0, 1000));
}

TEST_CASE("a final answer before the whole body was sent is relayed and its connection not reused",
          "[proxy][upload]") {
  // An early error: the backend answers 413 as soon as the head arrives,
  // while the proxy is still sending the body (sized as above). The rest of
  // the body is never sent, so that connection cannot carry another request.
  ProxyFixture f(echo_digest, "", "max_body_bytes = \"64MiB\"", "response_timeout = \"3s\"");
  f.backend.set_interim("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nfull");
  ReadPace pace;
  pace.bytes_per_tick = 256 * 1024;
  pace.tick = 20ms;
  pace.receive_buffer = kBackendReceiveBuffer;
  f.backend.set_read_pace(pace);
  HttpClient client(f.port(), 10s);
  Response early =
      client.request("POST", "/upload", {}, pattern_bytes(0, kernel_buffering() + 2 * kMiB));
  CHECK(early.status == 413);
  CHECK(early.body == "full");
  f.backend.set_interim("");
  const std::string small = pattern_bytes(0, 1000);
  Response r = client.request("POST", "/upload", {}, small);
  CHECK(r.status == 200);
  CHECK(r.body == digest(small));
  CHECK(f.backend.connections_accepted() == 2);
}
