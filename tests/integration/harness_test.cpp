// The harness checks itself without the proxy: TestBackend against HttpClient.
#include "harness.hpp"

#include <catch2/catch.hpp>

using namespace routemeter::test;

namespace {

milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

}  // namespace

TEST_CASE("backend answers with Content-Length and records the request", "[harness]") {
  TestBackend backend(
      [](const ReceivedRequest&) { return Reply::ok("hello").header("X-Up", "1"); });
  HttpClient client(backend.port());
  REQUIRE(client.connected());
  Response r = client.request("GET", "/a?b=c", {{"X-Test", "yes"}});
  CHECK(r.error == "");
  CHECK(r.status == 200);
  CHECK(r.reason == "OK");
  CHECK(r.version == "HTTP/1.1");
  CHECK(r.body == "hello");
  CHECK(r.header("content-length") == "5");
  CHECK(r.header("x-up") == "1");
  CHECK(r.complete);
  CHECK_FALSE(r.closed_by_peer);
  CHECK_FALSE(r.chunked);

  REQUIRE(backend.wait_for_requests(1));
  ReceivedRequest req = backend.request(0);
  CHECK(req.method == "GET");
  CHECK(req.target == "/a?b=c");
  CHECK(req.version == "HTTP/1.1");
  CHECK(req.headers.get("x-test") == "yes");
  CHECK(req.headers.get("HOST") == "127.0.0.1:" + std::to_string(backend.port()));
  CHECK(req.connection_id == 1);
  CHECK(req.index_on_connection == 0);
  CHECK(req.raw == "GET /a?b=c HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(backend.port()) +
                       "\r\nX-Test: yes\r\n\r\n");
  CHECK_THROWS(backend.request(1));
}

TEST_CASE("chunked responses are decoded by the client", "[harness]") {
  TestBackend backend([](const ReceivedRequest&) { return Reply::chunked(201, "hello world", 3); });
  HttpClient client(backend.port());
  Response r = client.request("GET", "/");
  CHECK(r.status == 201);
  CHECK(r.chunked);
  CHECK(r.complete);
  CHECK(r.body == "hello world");
  CHECK(r.body_bytes == 11);
  CHECK(r.body_fnv1a == fnv1a("hello world"));
  CHECK_FALSE(r.headers.has("Content-Length"));
  // The connection is still usable: the chunked framing ended where it should.
  Response again = client.request("GET", "/");
  CHECK(again.body == "hello world");
  CHECK(backend.connections_accepted() == 1);
}

TEST_CASE("keep-alive requests share a connection and are counted per connection", "[harness]") {
  TestBackend backend([](const ReceivedRequest& req) { return Reply::ok(req.target); });
  HttpClient first(backend.port());
  for (int i = 0; i < 3; ++i) {
    Response r = first.request("GET", "/" + std::to_string(i));
    REQUIRE(r.body == "/" + std::to_string(i));
  }
  HttpClient second(backend.port());
  CHECK(second.request("GET", "/x").status == 200);
  CHECK(backend.connections_accepted() == 2);
  CHECK(backend.connections_open() == 2);
  auto log = backend.requests();
  REQUIRE(log.size() == 4);
  CHECK(log[2].connection_id == 1);
  CHECK(log[2].index_on_connection == 2);
  CHECK(log[3].connection_id == 2);
  CHECK(log[3].index_on_connection == 0);

  first.close();
  CHECK(wait_until([&] { return backend.connections_open() == 1; }));
  backend.clear_requests();
  CHECK(backend.request_count() == 0);
}

TEST_CASE("pipelined requests are answered in order", "[harness]") {
  TestBackend backend([](const ReceivedRequest& req) {
    Reply r = Reply::ok(req.target);
    if (req.target == "/1") r.after(100ms);  // the first is slower, still first
    return r;
  });
  HttpClient client(backend.port());
  REQUIRE(client.send_raw("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(client.read_response().body == "/1");
  CHECK(client.read_response().body == "/2");
}

TEST_CASE("a delayed reply does not hold up other connections", "[harness]") {
  Gate gate;  // /slow is held until /fast was answered: no race with the delay
  TestBackend backend([gate](const ReceivedRequest& req) {
    return req.target == "/slow" ? Reply::ok("slow").after(400ms).held_by(gate) : Reply::ok("fast");
  });
  HttpClient slow(backend.port());
  auto start = Clock::now();
  REQUIRE(slow.send_request("GET", "/slow"));
  REQUIRE(backend.wait_for_requests(1));
  CHECK(http_get(backend.port(), "/fast").body == "fast");
  gate.open();
  Response r = slow.read_response();
  CHECK(r.body == "slow");
  // libevent arms timers from the time cached at the top of its loop
  // iteration, so one may fire a few ms early by a fresh clock.
  CHECK(since(start) >= 390ms);
}

TEST_CASE("a body cut short by the upstream is reported as incomplete", "[harness]") {
  TestBackend backend(
      [](const ReceivedRequest&) { return Reply::partial_body_then_close(1000, 100); });
  HttpClient client(backend.port());
  Response r = client.request("GET", "/");
  CHECK(r.status == 200);
  CHECK(r.header("Content-Length") == "1000");
  CHECK_FALSE(r.complete);
  CHECK(r.closed_by_peer);
  CHECK(r.body_bytes == 100);
  CHECK(r.body == pattern_bytes(0, 100));
  CHECK(r.error == "closed mid-body");
}

TEST_CASE("backend can close, reset, send raw bytes or never answer", "[harness]") {
  TestBackend backend([](const ReceivedRequest& req) {
    if (req.target == "/close") return Reply::close_immediately();
    if (req.target == "/reset") return Reply::reset();
    if (req.target == "/raw") return Reply::raw_bytes("HTTP/1.1 203 Odd\r\nX: y\r\n\r\nabc");
    return Reply::never_answer();
  });
  {
    HttpClient c(backend.port());
    Response r = c.request("GET", "/close");
    CHECK(r.status == 0);
    CHECK(r.closed_by_peer);
    CHECK(r.error == "closed before response");
  }
  {
    HttpClient c(backend.port());
    Response r = c.request("GET", "/reset");
    CHECK(r.status == 0);
    CHECK(r.error == "connection reset");
  }
  {
    HttpClient c(backend.port());
    Response r = c.request("GET", "/raw");
    CHECK(r.status == 203);
    CHECK(r.reason == "Odd");
    CHECK(r.body == "abc");  // close-delimited
    CHECK(r.complete);
    CHECK(r.closed_by_peer);
  }
  {
    HttpClient c(backend.port(), 200ms);
    auto start = Clock::now();
    Response r = c.request("GET", "/never");
    CHECK(r.status == 0);
    CHECK(r.error == "timeout");
    CHECK_FALSE(r.closed_by_peer);
    CHECK(since(start) >= 200ms);
  }
  CHECK(backend.connections_accepted() == 4);
}

TEST_CASE("streamed bodies are generated on the fly and hashed by the client", "[harness]") {
  constexpr uint64_t kSize = 8 * 1024 * 1024 + 17;
  TestBackend backend([](const ReceivedRequest& req) {
    return Reply::stream(kSize, req.target == "/chunked" ? Reply::Framing::kChunked
                                                         : Reply::Framing::kContentLength);
  });
  ReadOptions hash_only;
  hash_only.store_body = false;
  const uint64_t expected = pattern_fnv1a(kSize);
  for (const char* target : {"/length", "/chunked"}) {
    CAPTURE(target);
    HttpClient client(backend.port());
    REQUIRE(client.send_request("GET", target));
    Response r = client.read_response_with(hash_only);
    CHECK(r.status == 200);
    CHECK(r.complete);
    CHECK(r.body.empty());
    CHECK(r.body_bytes == kSize);
    CHECK(r.body_fnv1a == expected);
    CHECK(r.chunked == (std::string(target) == "/chunked"));
    // The connection stays usable after a stream.
    Response head = client.request("HEAD", target);
    CHECK(head.status == 200);
    CHECK(head.body_bytes == 0);
  }
}

TEST_CASE("a stream to a client that does not read is paced by the socket", "[harness]") {
  constexpr uint64_t kSize = 256ull * 1024 * 1024;
  TestBackend backend([](const ReceivedRequest&) { return Reply::stream(kSize); });
  HttpClient client(backend.port());
  REQUIRE(client.send_request("GET", "/"));
  REQUIRE(backend.wait_for_requests(1));
  // Socket buffers hold a few MiB; the backend must not get further ahead.
  // A runaway backend would keep going; a paced one stops at the buffers.
  const uint64_t written = wait_until_steady([&] { return backend.bytes_written(); });
  CHECK(written > 0);
  CHECK(written < 32ull * 1024 * 1024);

  client.close();
  CHECK(wait_until([&] { return backend.connections_open() == 0; }));
}

TEST_CASE("a slow reader gets the whole body in small reads", "[harness]") {
  TestBackend backend([](const ReceivedRequest&) { return Reply::stream(256 * 1024); });
  HttpClient client(backend.port());
  REQUIRE(client.send_request("GET", "/"));
  ReadOptions slow;
  slow.read_size = 4096;
  slow.pause_between_reads = 1ms;
  auto start = Clock::now();
  Response r = client.read_response_with(slow);
  // Small reads, each after a pause: at most 64 KiB came with the head.
  CHECK(r.pauses >= (256 - 64) / 4);
  CHECK(since(start) >= milliseconds(r.pauses));
  CHECK(r.complete);
  CHECK(r.body.size() == 256 * 1024);
  CHECK(r.body == pattern_bytes(0, 256 * 1024));
}

TEST_CASE("request bodies are decoded from Content-Length and chunked framing", "[harness]") {
  TestBackend backend([](const ReceivedRequest& req) { return Reply::ok(req.body); });
  HttpClient client(backend.port());
  CHECK(client.request("POST", "/up", {}, "payload").body == "payload");
  const std::string chunked =
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n";
  REQUIRE(client.send_raw(chunked));
  CHECK(client.read_response().body == "abcdefg");
  auto log = backend.requests();
  REQUIRE(log.size() == 2);
  CHECK(log[0].body == "payload");
  CHECK(log[0].headers.get("Content-Length") == "7");
  CHECK(log[1].chunked);
  CHECK(log[1].body == "abcdefg");
  CHECK(log[1].raw == chunked);
}

TEST_CASE("backend sends 100 Continue when a body is expected", "[harness]") {
  TestBackend backend([](const ReceivedRequest& req) { return Reply::ok(req.body); });
  HttpClient client(backend.port());
  REQUIRE(client.send_raw(
      "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  Response interim = client.read_response();
  CHECK(interim.status == 100);
  REQUIRE(client.send_raw("12345"));
  CHECK(client.read_response().body == "12345");
}

TEST_CASE("malformed requests are logged and answered 400", "[harness]") {
  TestBackend backend;
  HttpClient client(backend.port());
  REQUIRE(client.send_raw("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"));
  Response r = client.read_response();
  CHECK(r.status == 400);
  REQUIRE(backend.wait_for_requests(1));
  CHECK(backend.request(0).method == "<malformed>");
  CHECK(client.wait_peer_closed(kDefaultTimeout));
}

TEST_CASE("HEAD responses carry the length but no body", "[harness]") {
  TestBackend backend([](const ReceivedRequest&) { return Reply::ok("0123456789"); });
  HttpClient client(backend.port());
  Response r = client.request("HEAD", "/");
  CHECK(r.status == 200);
  CHECK(r.header("Content-Length") == "10");
  CHECK(r.body == "");
  CHECK(client.request("GET", "/").body == "0123456789");
}

TEST_CASE("a stopped backend refuses connections and waits time out", "[harness]") {
  TestBackend backend;
  uint16_t port = backend.port();
  HttpClient idle(port);
  REQUIRE(idle.connected());
  REQUIRE(wait_until([&] { return backend.connections_accepted() == 1; }));
  auto start = Clock::now();
  CHECK_FALSE(backend.wait_for_requests(1, 100ms));
  CHECK(since(start) >= 100ms);
  backend.stop();
  CHECK(idle.wait_peer_closed(1s));
  HttpClient refused(port);
  CHECK_FALSE(refused.connected());
  CHECK(refused.error() == "connect: Connection refused");
  Response r = http_get(port, "/");
  CHECK(r.status == 0);
  CHECK(r.error == "connect: Connection refused");
}

TEST_CASE("the handler can be replaced while the backend runs", "[harness]") {
  TestBackend backend;
  CHECK(http_get(backend.port(), "/").body == "ok");
  backend.set_handler([](const ReceivedRequest&) { return Reply::with_status(503, "busy"); });
  Response r = http_get(backend.port(), "/");
  CHECK(r.status == 503);
  CHECK(r.body == "busy");
}

TEST_CASE("close-delimited and close_after replies end the connection after the body",
          "[harness]") {
  TestBackend backend([](const ReceivedRequest& req) {
    Reply r = Reply::ok("body-" + req.target.substr(1));
    if (req.target == "/delimited") r.framing = Reply::Framing::kCloseDelimited;
    if (req.target == "/close") r.header("Connection", "close").close_after = true;
    if (req.target == "/raw")
      return Reply::raw_bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", true);
    return r;
  });
  for (const char* target : {"/delimited", "/close"}) {
    CAPTURE(target);
    HttpClient client(backend.port());
    Response r = client.request("GET", target);
    CHECK(r.status == 200);
    CHECK(r.body == "body-" + std::string(target + 1));
    CHECK(r.header("Content-Length").has_value() == (std::string(target) == "/close"));
    CHECK(client.wait_peer_closed(kDefaultTimeout));
  }
  HttpClient kept(backend.port());
  CHECK(kept.request("GET", "/raw").body == "x");
  CHECK(kept.request("GET", "/raw").body == "x");  // keep_open: same connection
  CHECK(backend.connections_accepted() == 3);
}

// Hidden (run with "[harness-perf]"): what a 1 GiB download costs the harness itself.
TEST_CASE("a 1 GiB stream from backend to client, hashed", "[.][harness-perf]") {
  constexpr uint64_t kSize = 1ull << 30;
  TestBackend backend([](const ReceivedRequest&) { return Reply::stream(kSize); });
  HttpClient client(backend.port(), 10s);
  ReadOptions hash_only;
  hash_only.store_body = false;
  hash_only.read_size = 256 * 1024;
  auto start = Clock::now();
  REQUIRE(client.send_request("GET", "/"));
  Response r = client.read_response_with(hash_only);
  WARN("1 GiB in " << since(start).count() << " ms");
  CHECK(r.body_bytes == kSize);
  CHECK(r.body_fnv1a == pattern_fnv1a(kSize));
}
