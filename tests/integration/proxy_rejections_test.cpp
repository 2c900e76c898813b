// Requests routemeter must answer itself and never forward (RFC 9112 framing
// rules for an intermediary, size limits, timeouts). Each one: the right
// status, the backend never saw it, and the proxy keeps serving.
#include <catch2/catch.hpp>

#include "proxy_support.hpp"

using namespace routemeter::test;

namespace {

struct Rejection {
  const char* name;
  std::string raw;
  int status;
};

}  // namespace

TEST_CASE("malformed or ambiguous requests are rejected and never forwarded", "[proxy][reject]") {
  ProxyFixture f(nullptr, "", "max_header_bytes = 2048\nmax_body_bytes = 1000");
  const std::string big_header(3000, 'h');
  const std::vector<Rejection> cases = {
      {"CL and TE together",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n",
       400},
      {"differing Content-Lengths",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
      {"non-numeric Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc",
       400},
      {"negative Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\nabc",
       400},
      {"TE not ending in chunked",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"TE without chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"unknown transfer coding",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-custom, chunked\r\n\r\n", 501},
      {"malformed chunk size",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
       400},
      {"bare LF in the head", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
      {"NUL in a header", std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 32), 400},
      {"whitespace before the colon", "GET / HTTP/1.1\r\nHost: a\r\nX-Bad : v\r\n\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n", 400},
      {"missing Host on 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
      {"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"garbage request line", "HELLO\r\n\r\n", 400},
      {"head larger than max_header_bytes",
       "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big_header + "\r\n\r\n", 431},
      {"body larger than max_body_bytes (Content-Length)",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 413},
      {"body larger than max_body_bytes (chunked)",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
           std::string(2000, 'b') + "\r\n0\r\n\r\n",
       413},
      {"dot segments above the root", "GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400},
  };
  for (const Rejection& c : cases) {
    INFO(c.name);
    HttpClient client(f.port());
    REQUIRE(client.send_raw(c.raw));
    Response r = client.read_response();
    CHECK(r.status == c.status);
    CHECK(r.header("connection") == "close");
    CHECK(client.wait_peer_closed(kDefaultTimeout));
  }
  // None of them reached the upstream, and the proxy still serves.
  CHECK(f.backend.request_count() == 0);
  CHECK(http_get(f.port(), "/fine").status == 200);
  CHECK(f.backend.request_count() == 1);
}

TEST_CASE("a request line longer than 8 KiB gets 414", "[proxy][reject]") {
  ProxyFixture f;
  HttpClient client(f.port());
  REQUIRE(client.send_raw("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(client.read_response().status == 414);
  CHECK(client.wait_peer_closed(kDefaultTimeout));
  CHECK(f.backend.request_count() == 0);
}

TEST_CASE("a slow request head gets 408 after client_header_timeout and is closed",
          "[proxy][reject]") {
  ProxyFixture f(nullptr, "", "client_header_timeout = \"300ms\"");
  const auto start = Clock::now();  // before the connection: the timer starts after it
  HttpClient client(f.port());
  REQUIRE(client.send_raw("GET / HTTP/1.1\r\nHost: a\r\n"));  // never finished
  Response r = client.read_response();
  CHECK(r.status == 408);
  CHECK(Clock::now() - start >= 290ms);  // timers may round to the millisecond
  CHECK(client.wait_peer_closed(kDefaultTimeout));
  CHECK(f.backend.request_count() == 0);
  CHECK(http_get(f.port(), "/").status == 200);
}

TEST_CASE("a slow request body gets 408 after client_body_timeout", "[proxy][reject]") {
  ProxyFixture f(nullptr, "", "client_body_timeout = \"300ms\"");
  HttpClient client(f.port());
  REQUIRE(client.send_raw("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"));
  Response r = client.read_response();
  CHECK(r.status == 408);
  CHECK(client.wait_peer_closed(kDefaultTimeout));
  CHECK(f.backend.request_count() == 0);
}

TEST_CASE("an idle keep-alive connection is closed after keepalive_timeout", "[proxy][reject]") {
  ProxyFixture f(nullptr, "", "keepalive_timeout = \"300ms\"");
  HttpClient client(f.port());
  // Taken before the request: the idle timer starts once the answer is written.
  const auto start = Clock::now();
  CHECK(client.request("GET", "/").status == 200);
  CHECK(client.wait_peer_closed(kDefaultTimeout));
  CHECK(Clock::now() - start >= 290ms);  // timers may round to the millisecond
}
