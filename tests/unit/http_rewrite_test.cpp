// Header rewriting, table-driven: what the upstream gets for a client's
// request head, how a response is framed for the client, and what the client
// gets for an upstream's response head (docs/http.md).
#include "routemeter/http_rewrite.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "routemeter/http.hpp"

namespace routemeter {
namespace {

using Framing = BodyRelay::Framing;

std::string upstream_head(const std::string& raw, std::string_view path = "",
                          std::string_view proto = "http") {
  http::RequestHead head;
  const http::ParseResult res =
      http::parse_request_head(raw.data(), raw.size(), http::RequestLimits{}, head);
  REQUIRE(res.status == http::ParseStatus::kComplete);
  std::string out;
  render_upstream_request(head, path.empty() ? head.path : path, ForwardInfo{"10.0.0.9", proto},
                          out);
  return out;
}

struct ResponseCase {
  const char* name;
  std::string raw;
  http::Method method;
  bool client_http10;
  bool close;
  Framing framing;
  bool dechunk;
  bool client_must_close;
  bool upstream_reusable;
  std::string expected;
};

}  // namespace

TEST_CASE("the upstream request head: hop-by-hop fields go, X-Forwarded-* are set", "[rewrite]") {
  struct Case {
    const char* name;
    std::string raw;
    std::string path;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"a plain GET", "GET /a?q=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n", "",
       "GET /a?q=1 HTTP/1.1\r\nAccept: */*\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\n"
       "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n"},
      {"an empty query keeps its '?'", "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n", "",
       "GET /a? HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
       "X-Forwarded-Host: h\r\n\r\n"},
      {"the route's path replaces the client's", "GET /api/x?y HTTP/1.1\r\nHost: h\r\n\r\n", "/x",
       "GET /x?y HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
       "X-Forwarded-Host: h\r\n\r\n"},
      {"hop-by-hop fields and the ones Connection names are removed",
       "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
       "Keep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\nX-Kept: k\r\n\r\n",
       "",
       "GET / HTTP/1.1\r\nX-Kept: k\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\n"
       "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n"},
      {"every X-Forwarded-For field forms one list, ours last",
       "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, "
       "3.3.3.3\r\n\r\n",
       "",
       "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9\r\n"
       "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n"},
      {"a client's X-Forwarded-Proto and -Host are replaced",
       "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n",
       "",
       "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
       "X-Forwarded-Host: h\r\n\r\n"},
      {"Content-Length is kept, Expect removed",
       "PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", "",
       "PUT /p HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
       "X-Forwarded-Host: h\r\nContent-Length: 4\r\n\r\n"},
      {"a chunked body stays chunked",
       "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", "",
       "POST /p HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
       "X-Forwarded-Host: h\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"HTTP/1.0 goes upstream as HTTP/1.1", "GET / HTTP/1.0\r\nHost: h\r\n\r\n", "",
       "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
       "X-Forwarded-Host: h\r\n\r\n"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(upstream_head(c.raw, c.path) == c.expected);
  }
}

TEST_CASE("X-Forwarded-Proto says what the client spoke", "[rewrite]") {
  CHECK(upstream_head("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "", "https")
            .find("X-Forwarded-Proto: https\r\n") != std::string::npos);
}

TEST_CASE("the response head for the client: its framing and its connection", "[rewrite]") {
  using M = http::Method;
  const std::vector<ResponseCase> cases = {
      {"length-framed, kept alive", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\r\n\r\n",
       M::kGet, false, false, Framing::kLength, false, false, true,
       "HTTP/1.1 200 OK\r\nX-A: a\r\nContent-Length: 2\r\n\r\n"},
      {"chunked to a 1.1 client stays chunked",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", M::kGet, false, false,
       Framing::kChunked, false, false, true,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"chunked to a 1.0 client is de-chunked and ends with the connection",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", M::kGet, true, false,
       Framing::kChunked, true, true, true, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"},
      {"no framing: the body ends with the upstream's close", "HTTP/1.1 200 OK\r\nX-A: a\r\n\r\n",
       M::kGet, false, false, Framing::kUntilClose, false, true, false,
       "HTTP/1.1 200 OK\r\nX-A: a\r\nConnection: close\r\n\r\n"},
      {"HEAD keeps the Content-Length and has no body",
       "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", M::kHead, false, false, Framing::kNone,
       false, false, true, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"},
      {"304 has no body", "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n", M::kGet, false, false,
       Framing::kNone, false, false, true, "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n"},
      {"a keep-alive 1.0 client is told so", "HTTP/1.1 204 No Content\r\n\r\n", M::kGet, true,
       false, Framing::kNone, false, false, true,
       "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"},
      {"the client connection closes after this one",
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", M::kGet, false, true, Framing::kLength,
       false, false, true, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"},
      {"the upstream's hop-by-hop fields go; its close makes it not reusable",
       "HTTP/1.1 200 OK\r\nConnection: close, X-H\r\nX-H: h\r\nKeep-Alive: 1\r\n"
       "Content-Length: 0\r\n\r\n",
       M::kGet, false, false, Framing::kLength, false, false, false,
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {"an HTTP/1.0 upstream without keep-alive is not reusable",
       "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", M::kGet, false, false, Framing::kLength,
       false, false, false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {"an empty reason gets the standard one", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
       M::kGet, false, false, Framing::kLength, false, false, true,
       "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
  };
  for (const ResponseCase& c : cases) {
    INFO(c.name);
    http::ResponseHead head;
    const http::ParseResult res =
        http::parse_response_head(c.raw.data(), c.raw.size(), 64 * 1024, head);
    REQUIRE(res.status == http::ParseStatus::kComplete);
    const ResponsePlan plan = plan_response(c.method, c.client_http10, head);
    CHECK(plan.framing == c.framing);
    CHECK(plan.dechunk == c.dechunk);
    CHECK(plan.client_must_close == c.client_must_close);
    CHECK(plan.upstream_reusable == c.upstream_reusable);
    std::string out;
    render_client_response(head, plan, c.close, c.client_http10, out);
    CHECK(out == c.expected);
  }
}

}  // namespace routemeter
