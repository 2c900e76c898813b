// Forwarding through the real routemeter binary: what the upstream receives
// and what the client gets back, byte for byte where it matters.
#include <catch2/catch.hpp>

#include "proxy_support.hpp"

using namespace routemeter::test;

TEST_CASE("a GET is forwarded with its path, query and headers, and the answer relayed",
          "[proxy]") {
  ProxyFixture f(
      [](const ReceivedRequest&) { return Reply::ok("hello").header("X-Upstream", "yes"); });
  HttpClient client(f.port());
  Response r = client.request("GET", "/api/x?a=1&b=2", {{"X-Custom", "v"}});
  CHECK(r.status == 200);
  CHECK(r.body == "hello");
  CHECK(r.header("x-upstream") == "yes");
  CHECK(r.header("content-length") == "5");
  REQUIRE(f.backend.wait_for_requests(1));
  ReceivedRequest got = f.backend.request(0);
  CHECK(got.method == "GET");
  CHECK(got.target == "/api/x?a=1&b=2");
  CHECK(got.version == "HTTP/1.1");
  CHECK(got.headers.get("x-custom") == "v");
  CHECK(got.headers.get("host") == "127.0.0.1:" + std::to_string(f.port()));
  CHECK(got.headers.get("x-forwarded-for") == "127.0.0.1");
  CHECK(got.headers.get("x-forwarded-proto") == "http");
  CHECK(got.headers.get("x-forwarded-host") == "127.0.0.1:" + std::to_string(f.port()));
}

TEST_CASE("X-Forwarded-For is appended to, and client X-Forwarded-Proto/Host are replaced",
          "[proxy]") {
  ProxyFixture f;
  HttpClient client(f.port());
  Response r = client.request("GET", "/",
                              {{"X-Forwarded-For", "10.1.1.1, 10.2.2.2"},
                               {"X-Forwarded-Proto", "https"},
                               {"X-Forwarded-Host", "evil.example"},
                               {"Host", "shop.example.com"}});
  CHECK(r.status == 200);
  REQUIRE(f.backend.wait_for_requests(1));
  ReceivedRequest got = f.backend.request(0);
  CHECK(got.headers.get_all("x-forwarded-for") ==
        std::vector<std::string>{"10.1.1.1, 10.2.2.2, 127.0.0.1"});
  CHECK(got.headers.get_all("x-forwarded-proto") == std::vector<std::string>{"http"});
  CHECK(got.headers.get_all("x-forwarded-host") == std::vector<std::string>{"shop.example.com"});
  CHECK(got.headers.get_all("host") == std::vector<std::string>{"shop.example.com"});
}

TEST_CASE("hop-by-hop headers are removed in both directions", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest&) {
    return Reply::ok("x")
        .header("Connection", "X-Up-Hop")
        .header("X-Up-Hop", "1")
        .header("Keep-Alive", "timeout=5")
        .header("X-End-To-End", "kept");
  });
  HttpClient client(f.port());
  Response r = client.request("GET", "/",
                              {{"Connection", "keep-alive, X-Hop"},
                               {"X-Hop", "secret"},
                               {"Keep-Alive", "timeout=5"},
                               {"Proxy-Connection", "keep-alive"},
                               {"TE", "trailers"},
                               {"Upgrade", "websocket"},
                               {"X-Kept", "1"}});
  CHECK(r.status == 200);
  CHECK_FALSE(r.headers.has("x-up-hop"));
  CHECK_FALSE(r.headers.has("keep-alive"));
  CHECK(r.header("x-end-to-end") == "kept");
  REQUIRE(f.backend.wait_for_requests(1));
  ReceivedRequest got = f.backend.request(0);
  for (const char* h : {"connection", "x-hop", "keep-alive", "proxy-connection", "te", "upgrade"}) {
    INFO(h);
    CHECK_FALSE(got.headers.has(h));
  }
  CHECK(got.headers.get("x-kept") == "1");
}

TEST_CASE("upstream connections are pooled and reused across requests", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest& req) { return Reply::ok(req.target); });
  for (int c = 0; c < 3; ++c) {
    HttpClient client(f.port());
    for (int i = 0; i < 5; ++i) {
      std::string path = "/" + std::to_string(c) + "/" + std::to_string(i);
      Response r = client.request("GET", path);
      REQUIRE(r.body == path);
    }
  }
  CHECK(f.backend.request_count() == 15);
  CHECK(f.backend.connections_accepted() == 1);
}

TEST_CASE("pipelined requests through the proxy are answered in order", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest& req) {
    // The first answer is the slowest: order must still hold.
    return Reply::ok("body" + req.target).after(req.target == "/1" ? 100ms : 0ms);
  });
  HttpClient client(f.port());
  std::string batch;
  for (int i = 1; i <= 4; ++i) {
    batch += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n";
  }
  REQUIRE(client.send_raw(batch));
  for (int i = 1; i <= 4; ++i) {
    Response r = client.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "body/" + std::to_string(i));
  }
}

TEST_CASE("an HTTP/1.0 client gets a 1.0-readable answer and the connection closes", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest&) { return Reply::chunked(200, "chunked body", 4); });
  HttpClient client(f.port());
  REQUIRE(client.send_raw("GET /x HTTP/1.0\r\n\r\n"));
  std::string raw = client.read_until_close();
  CHECK(raw.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(raw.find("Transfer-Encoding") == std::string::npos);
  CHECK(raw.find("Connection: close\r\n") != std::string::npos);
  CHECK(raw.substr(raw.size() - 12) == "chunked body");
}

TEST_CASE("an HTTP/1.0 client with keep-alive keeps its connection", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest&) { return Reply::ok("k"); });
  HttpClient client(f.port());
  for (int i = 0; i < 2; ++i) {
    REQUIRE(client.send_raw("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    Response r = client.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "k");
    CHECK(r.header("connection") == "keep-alive");
  }
}

TEST_CASE("chunked responses stream through to 1.1 clients unchanged in content", "[proxy]") {
  const std::string body(100000, 'z');
  ProxyFixture f([&](const ReceivedRequest&) { return Reply::chunked(200, body, 777); });
  HttpClient client(f.port());
  Response r = client.request("GET", "/");
  CHECK(r.status == 200);
  CHECK(r.chunked);
  CHECK(r.body == body);
  // and the connection stays usable
  CHECK(client.request("GET", "/again").body == body);
}

TEST_CASE("chunked request bodies stream to the upstream chunked, framing checked", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest& req) { return Reply::ok("got " + req.body); });
  HttpClient client(f.port());
  const std::string chunks = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  REQUIRE(client.send_raw("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          chunks));
  Response r = client.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "got hello world");
  REQUIRE(f.backend.wait_for_requests(1));
  ReceivedRequest got = f.backend.request(0);
  CHECK(got.body == "hello world");
  CHECK(got.chunked);
  CHECK(got.headers.get("transfer-encoding") == "chunked");
  CHECK_FALSE(got.headers.has("content-length"));
  // The length is unknown when forwarding starts: the chunks go as they came.
  CHECK(got.raw.substr(got.raw.size() - chunks.size()) == chunks);
}

TEST_CASE("a POST body with Content-Length reaches the upstream intact", "[proxy]") {
  std::string body;
  for (int i = 0; i < 300000; ++i) body += static_cast<char>('a' + i % 26);
  ProxyFixture f(
      [](const ReceivedRequest& req) { return Reply::ok(std::to_string(fnv1a(req.body))); });
  HttpClient client(f.port());
  Response r = client.request("POST", "/p", {{"Content-Type", "text/plain"}}, body);
  CHECK(r.status == 200);
  CHECK(r.body == std::to_string(fnv1a(body)));
  REQUIRE(f.backend.wait_for_requests(1));
  CHECK(f.backend.request(0).headers.get("content-length") == std::to_string(body.size()));
}

TEST_CASE("Expect: 100-continue gets an interim 100 before the body is sent", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest& req) { return Reply::ok("got " + req.body); });
  HttpClient client(f.port());
  REQUIRE(client.send_raw(
      "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  Response interim = client.read_response();
  CHECK(interim.status == 100);
  REQUIRE(client.send_raw("data"));
  Response r = client.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "got data");
  REQUIRE(f.backend.wait_for_requests(1));
  CHECK_FALSE(f.backend.request(0).headers.has("expect"));
}

TEST_CASE("HEAD, 204 and 304 responses carry no body and keep the connection usable", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest& req) {
    if (req.target == "/204") return Reply::with_status(204);
    if (req.target == "/304") return Reply::with_status(304).header("ETag", "\"e\"");
    return Reply::ok("twelve bytes");
  });
  HttpClient client(f.port());
  REQUIRE(client.send_request("HEAD", "/head"));
  Response head = client.read_response(true);
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "12");
  CHECK(head.body.empty());
  Response no_content = client.request("GET", "/204");
  CHECK(no_content.status == 204);
  CHECK(no_content.body.empty());
  Response not_modified = client.request("GET", "/304");
  CHECK(not_modified.status == 304);
  CHECK(not_modified.header("etag") == "\"e\"");
  Response after = client.request("GET", "/after");
  CHECK(after.body == "twelve bytes");
}

TEST_CASE("a close-delimited upstream response is relayed and the client connection closed",
          "[proxy]") {
  ProxyFixture f([](const ReceivedRequest&) {
    Reply r = Reply::ok("until close");
    r.framing = Reply::Framing::kCloseDelimited;
    return r;
  });
  HttpClient client(f.port());
  Response r = client.request("GET", "/");
  CHECK(r.status == 200);
  CHECK(r.body == "until close");
  CHECK(r.header("connection") == "close");
  CHECK(client.wait_peer_closed(kDefaultTimeout));
}

TEST_CASE("routes: first match wins, strip_prefix rewrites, unmatched is 404", "[proxy]") {
  const std::string routes = R"(
[[route]]
name = "exact"
path = "/api/car/special"
upstream = "app"

[[route]]
name = "car"
path_prefix = "/api/car/"
strip_prefix = true
upstream = "app"
)";
  ProxyFixture f([](const ReceivedRequest& req) { return Reply::ok(req.target); }, routes);
  CHECK(http_get(f.port(), "/api/car/special").body == "/api/car/special");
  CHECK(http_get(f.port(), "/api/car/list?x=1").body == "/list?x=1");
  CHECK(http_get(f.port(), "/api/car/").body == "/");
  Response miss = http_get(f.port(), "/api/shop/x");
  CHECK(miss.status == 404);
  // A dot segment cannot escape the car prefix: it is resolved first.
  Response escaped = http_get(f.port(), "/api/car/../shop/x");
  CHECK(escaped.status == 404);
  CHECK(f.backend.request_count() == 3);
}

TEST_CASE("a stale pooled connection closed by the upstream is retried transparently", "[proxy]") {
  ProxyFixture f([](const ReceivedRequest& req) {
    // Answer, then close the connection without saying so.
    Reply r = Reply::ok(req.target);
    r.close_after = true;
    return r;
  });
  HttpClient client(f.port());
  for (int i = 0; i < 5; ++i) {
    Response r = client.request("GET", "/" + std::to_string(i));
    CHECK(r.status == 200);
    CHECK(r.body == "/" + std::to_string(i));
  }
}

TEST_CASE("a 103 reaches an HTTP/1.1 client before the final answer, never an HTTP/1.0 one",
          "[proxy][interim]") {
  ProxyFixture f([](const ReceivedRequest&) { return Reply::ok("final"); });
  f.backend.set_interim("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
  HttpClient client(f.port());
  REQUIRE(client.send_request("GET", "/page"));
  Response hints = client.read_response();
  CHECK(hints.status == 103);
  CHECK(hints.headers.get("link") == "</style.css>; rel=preload");
  Response final_answer = client.read_response();
  CHECK(final_answer.status == 200);
  CHECK(final_answer.body == "final");

  HttpClient old(f.port());
  REQUIRE(old.send_raw("GET /page HTTP/1.0\r\nHost: a\r\n\r\n"));
  Response r10 = old.read_response();
  CHECK(r10.status == 200);  // no 1xx for a 1.0 client
  CHECK(r10.body == "final");
  // The final answers are what is counted.
  const std::string m = f.metrics();
  INFO(m);
  CHECK(metric_value(m,
                     "routemeter_requests_total{code=\"200\",method=\"GET\",route=\"all\","
                     "upstream=\"app\"}") == 2);
  CHECK_FALSE(
      find_metric(m, "routemeter_requests_total",
                  {{"code", "103"}, {"method", "GET"}, {"route", "all"}, {"upstream", "app"}})
          .has_value());
}

TEST_CASE("an HTTP/1.0 request without Host goes upstream as HTTP/1.1 with the server's address",
          "[proxy]") {
  ProxyFixture f;
  HttpClient client(f.port());
  REQUIRE(client.send_raw("GET /p HTTP/1.0\r\n\r\n"));
  Response r = client.read_response();
  CHECK(r.status == 200);
  REQUIRE(f.backend.wait_for_requests(1));
  const ReceivedRequest got = f.backend.request(0);
  CHECK(got.version == "HTTP/1.1");
  CHECK(got.headers.get("host") == f.backend.address());
  CHECK(got.headers.count("host") == 1);
  CHECK_FALSE(got.headers.has("x-forwarded-host"));
}
