// Response-head parser: accepted status lines and framings, every rejection
// (always 502), the size bound, arbitrary splits, a mutation fuzz, and which
// responses have no body.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "http_test_support.hpp"
#include "routemeter/http.hpp"

namespace routemeter::http {
namespace {

using test::status_name;
using namespace std::string_literals;

constexpr size_t kMaxBytes = 16 * 1024;

ParseResult parse(std::string_view raw, ResponseHead& head, size_t max_bytes = kMaxBytes) {
  return parse_response_head(raw.data(), raw.size(), max_bytes, head);
}

struct ValidCase {
  std::string name;
  std::string raw;
  int status;
  std::string reason;
  int version_minor;
  bool has_content_length;
  uint64_t content_length;
  bool chunked;
  bool close;
  bool keep_alive;
  bool upgrade;
  size_t headers;
  size_t head_bytes;  // 0: the whole of `raw`
};

const std::vector<ValidCase>& valid_cases() {
  static const std::vector<ValidCase> cases = {
      {"ok with a body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 200, "OK", 1, true, 2,
       false, false, false, false, 1, 38},
      {"reason with spaces", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404,
       "Not Found", 1, true, 0, false, false, false, false, 1, 0},
      {"empty reason after SP", "HTTP/1.1 204 \r\n\r\n", 204, "", 1, false, 0, false, false, false,
       false, 0, 0},
      {"no SP and no reason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", 200, "", 1, true, 1,
       false, false, false, false, 1, 0},
      {"reason with tab and obs-text", "HTTP/1.1 500 Erreur\tinterne \xe9\r\n\r\n", 500,
       "Erreur\tinterne \xe9", 1, false, 0, false, false, false, false, 0, 0},
      {"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, "OK", 1, false, 0,
       true, false, false, false, 1, 0},
      {"coding before chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", 200,
       "OK", 1, false, 0, true, false, false, false, 1, 0},
      {"not chunked: read until close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 200,
       "OK", 1, false, 0, false, false, false, false, 1, 0},
      {"chunked not last: read until close",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 200, "OK", 1, false, 0, false,
       false, false, false, 1, 0},
      {"no framing at all", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", 200, "OK", 1, false, 0, false,
       false, false, false, 1, 0},
      {"http/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", 200, "OK", 0, true, 3,
       false, true, false, false, 1, 0},
      {"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 200, "OK", 0,
       false, 0, false, false, true, false, 1, 0},
      {"connection close", "HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\n", 503, "Busy", 1, false,
       0, false, true, false, false, 1, 0},
      {"100 continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 100, "Continue", 1,
       false, 0, false, false, false, false, 0, 25},
      {"101 upgrade",
       "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 101,
       "Switching Protocols", 1, false, 0, false, false, false, true, 2, 0},
      {"304 with a length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 304,
       "Not Modified", 1, true, 10, false, false, false, false, 1, 0},
      {"equal lengths", "HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\ncontent-length: 4\r\n\r\n", 200,
       "OK", 1, true, 4, false, false, false, false, 2, 0},
      {"599 and a higher minor", "HTTP/1.4 599 x\r\n\r\n", 599, "x", 1, false, 0, false, false,
       false, false, 0, 0},
  };
  return cases;
}

void check_valid(const ValidCase& c, const ResponseHead& h, const ParseResult& r) {
  INFO(c.name);
  REQUIRE(status_name(r.status) == "complete");
  CHECK(r.head_bytes == (c.head_bytes ? c.head_bytes : c.raw.size()));
  CHECK(h.status == c.status);
  CHECK(h.reason == c.reason);
  CHECK(h.version_minor == c.version_minor);
  CHECK(h.framing.has_content_length == c.has_content_length);
  CHECK(h.framing.content_length == c.content_length);
  CHECK(h.framing.chunked == c.chunked);
  CHECK(h.framing.connection_close == c.close);
  CHECK(h.framing.connection_keep_alive == c.keep_alive);
  CHECK(h.framing.upgrade == c.upgrade);
  CHECK_FALSE(h.framing.expect_continue);
  CHECK(h.headers.size() == c.headers);
}

TEST_CASE("valid response heads parse into every field", "[http]") {
  ResponseHead head;
  for (const ValidCase& c : valid_cases()) check_valid(c, head, parse(c.raw, head));
}

TEST_CASE("response header fields are kept in order without OWS", "[http]") {
  ResponseHead head;
  const std::string raw = "HTTP/1.1 200 OK\r\nSet-Cookie: a=1 \r\nset-cookie:\tb=2\r\nX:\r\n\r\n";
  REQUIRE(parse(raw, head).status == ParseStatus::kComplete);
  REQUIRE(head.headers.size() == 3);
  CHECK(head.headers[0].name == "Set-Cookie");
  CHECK(head.headers[0].value == "a=1");
  CHECK(head.headers[1].name == "set-cookie");
  CHECK(head.headers[1].value == "b=2");
  CHECK(head.headers[2].value.empty());
}

TEST_CASE("invalid response heads are a 502", "[http]") {
  const std::string ok = "HTTP/1.1 200 OK\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n"},
      {"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n"},
      {"status below 100", "HTTP/1.1 099 x\r\n\r\n"},
      {"status above 599", "HTTP/1.1 600 x\r\n\r\n"},
      {"letters in status", "HTTP/1.1 2x0 OK\r\n\r\n"},
      {"HTTP/2", "HTTP/2 200 OK\r\n\r\n"},
      {"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n"},
      {"double SP", "HTTP/1.1  200 OK\r\n\r\n"},
      {"lowercase", "http/1.1 200 OK\r\n\r\n"},
      {"bare LF after the status line", "HTTP/1.1 200 OK\n\r\n"},
      {"NUL in the reason", "HTTP/1.1 200 O\0K\r\n\r\n"s},
      {"bare CR in the reason", "HTTP/1.1 200 O\rK\r\n\r\n"},
      {"leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n"},
      {"differing lengths", ok + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n"},
      {"invalid length", ok + "Content-Length: 1.0\r\n\r\n"},
      {"length overflow", ok + "Content-Length: 99999999999999999999\r\n\r\n"},
      {"TE with CL", ok + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"},
      {"TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"chunked twice", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"empty TE", ok + "Transfer-Encoding: \r\n\r\n"},
      {"chunked with a parameter", ok + "Transfer-Encoding: chunked;a=b\r\n\r\n"},
      {"obs-fold", ok + "X: a\r\n b\r\n\r\n"},
      {"whitespace before colon", ok + "X : a\r\n\r\n"},
      {"bare LF in a field", ok + "X: a\n\r\n"},
      {"bare LF at the end", ok + "X: a\r\n\n"},
      {"CTL in a field", ok + "X: \x1b[0m\r\n\r\n"},
  };
  ResponseHead head;
  for (const auto& [name, raw] : cases) {
    INFO(name);
    const ParseResult r = parse(raw, head);
    CHECK(status_name(r.status) == "error");
    CHECK(r.error_status == 502);
    CHECK_FALSE(r.error.empty());
  }
}

TEST_CASE("a response head larger than max_bytes is a 502, even while incomplete", "[http]") {
  ResponseHead head;
  const std::string raw = "HTTP/1.1 200 OK\r\nX: " + std::string(23, 'v') + "\r\n\r\n";  // 47
  REQUIRE(raw.size() == 47);
  CHECK(parse(raw, head, 47).status == ParseStatus::kComplete);
  CHECK(parse(raw, head, 46).error_status == 502);
  CHECK(parse(raw.substr(0, 40), head, 40).status == ParseStatus::kIncomplete);
  const ParseResult r = parse(raw.substr(0, 41), head, 40);
  CHECK(status_name(r.status) == "error");
  CHECK(r.error_status == 502);
}

TEST_CASE("every split of a valid response head is incomplete until its last byte", "[http]") {
  ResponseHead head;
  for (const ValidCase& c : valid_cases()) {
    INFO(c.name);
    const size_t n = c.head_bytes ? c.head_bytes : c.raw.size();
    for (size_t len = 0; len < n; ++len) {
      INFO("prefix " << len);
      REQUIRE(status_name(parse_response_head(c.raw.data(), len, kMaxBytes, head).status) ==
              "incomplete");
    }
    check_valid(c, head, parse_response_head(c.raw.data(), n, kMaxBytes, head));
  }
}

TEST_CASE("mutated response heads never crash and answer consistently", "[http]") {
  test::Rng rng(0xfeedbeef);
  ResponseHead head;
  ResponseHead again;
  const auto& cases = valid_cases();
  int complete = 0;
  int errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string raw = cases[rng.below(cases.size())].raw;
    const size_t edits = 1 + rng.below(4);
    for (size_t e = 0; e < edits; ++e) test::mutate(raw, rng);
    const ParseResult r = parse(raw, head);
    if (r.status == ParseStatus::kError) {
      ++errors;
      CHECK(r.error_status == 502);
    } else if (r.status == ParseStatus::kComplete) {
      ++complete;
      REQUIRE(r.head_bytes <= raw.size());
      CHECK((head.status >= 100 && head.status <= 599));
      CHECK(test::within(head.reason, raw.data(), raw.size()));
      CHECK_FALSE((head.framing.chunked && head.framing.has_content_length));
      const ParseResult r2 = parse(std::string_view(raw).substr(0, r.head_bytes), again);
      REQUIRE(r2.status == ParseStatus::kComplete);
      CHECK(again.status == head.status);
      CHECK(again.headers.size() == head.headers.size());
      CHECK(parse(std::string_view(raw).substr(0, r.head_bytes - 1), again).status ==
            ParseStatus::kIncomplete);
    }
  }
  CHECK(complete > 1000);
  CHECK(errors > 1000);
}

TEST_CASE("HEAD, 1xx, 204, 304 and CONNECT 2xx responses have no body", "[http]") {
  struct Case {
    Method method;
    int status;
    bool no_body;
  };
  const std::vector<Case> cases = {
      {Method::kGet, 200, false},    {Method::kHead, 200, true},    {Method::kHead, 404, true},
      {Method::kGet, 100, true},     {Method::kPost, 101, true},    {Method::kGet, 199, true},
      {Method::kGet, 204, true},     {Method::kGet, 304, true},     {Method::kGet, 205, false},
      {Method::kConnect, 200, true}, {Method::kConnect, 299, true}, {Method::kConnect, 407, false},
      {Method::kPost, 500, false},   {Method::kOther, 302, false},
  };
  for (const Case& c : cases) {
    INFO(method_name(c.method) << " " << c.status);
    CHECK(response_has_no_body(c.method, c.status) == c.no_body);
  }
}

}  // namespace
}  // namespace routemeter::http
