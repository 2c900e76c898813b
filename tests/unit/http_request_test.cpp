// Request-head parser: every accepted shape with every parsed field, every
// rejection with its exact status, limits, arbitrary splits, and a
// deterministic mutation fuzz.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "http_test_support.hpp"
#include "routemeter/http.hpp"

namespace routemeter::http {
namespace {

using test::status_name;
using namespace std::string_literals;

ParseResult parse(std::string_view raw, RequestHead& head, RequestLimits limits = {}) {
  return parse_request_head(raw.data(), raw.size(), limits, head);
}

struct ValidCase {
  std::string name;
  std::string raw;
  Method method;
  std::string method_token;
  std::string target;
  std::string path;
  std::string query;
  int version_minor;
  std::string host;
  bool has_host;
  bool has_content_length;
  uint64_t content_length;
  bool chunked;
  bool close;
  bool keep_alive;
  bool expect_continue;
  bool upgrade;
  size_t headers;
  size_t head_bytes;  // 0: the whole of `raw`
};

const std::vector<ValidCase>& valid_cases() {
  static const std::vector<ValidCase> cases = {
      {"minimal", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", Method::kGet, "GET", "/", "/", "", 1, "a",
       true, false, 0, false, false, false, false, false, 1, 0},
      {"path and query",
       "GET /api/car/random?x=1&y=%20 HTTP/1.1\r\nHost: cars.example.com:8080\r\n\r\n",
       Method::kGet, "GET", "/api/car/random?x=1&y=%20", "/api/car/random", "x=1&y=%20", 1,
       "cars.example.com:8080", true, false, 0, false, false, false, false, false, 1, 0},
      {"empty query", "HEAD /a? HTTP/1.1\r\nHost: h\r\n\r\n", Method::kHead, "HEAD", "/a?", "/a",
       "", 1, "h", true, false, 0, false, false, false, false, false, 1, 0},
      {"browser query bytes", "GET /s?q={\"a\"}|^`[] HTTP/1.1\r\nHost: h\r\n\r\n", Method::kGet,
       "GET", "/s?q={\"a\"}|^`[]", "/s", "q={\"a\"}|^`[]", 1, "h", true, false, 0, false, false,
       false, false, false, 1, 0},
      {"content-length", "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n", Method::kPost,
       "POST", "/p", "/p", "", 1, "h", true, true, 42, false, false, false, false, false, 2, 0},
      {"content-length zero", "PUT /p HTTP/1.1\r\nHost: h\r\ncontent-length:0\r\n\r\n",
       Method::kPut, "PUT", "/p", "/p", "", 1, "h", true, true, 0, false, false, false, false,
       false, 2, 0},
      {"content-length max",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n", Method::kPost,
       "POST", "/", "/", "", 1, "h", true, true, UINT64_MAX, false, false, false, false, false, 2,
       0},
      {"content-length equal list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7 , 7\r\n\r\n",
       Method::kPost, "POST", "/", "/", "", 1, "h", true, true, 7, false, false, false, false,
       false, 2, 0},
      {"content-length repeated equal",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nContent-Length: 007\r\n\r\n",
       Method::kPost, "POST", "/", "/", "", 1, "h", true, true, 7, false, false, false, false,
       false, 3, 0},
      {"chunked", "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
       Method::kPost, "POST", "/up", "/up", "", 1, "h", true, false, 0, true, false, false, false,
       false, 2, 0},
      {"chunked any case, empty members",
       "POST /up HTTP/1.1\r\nHost: h\r\nTRANSFER-ENCODING: , CHUNKED ,\r\n\r\n", Method::kPost,
       "POST", "/up", "/up", "", 1, "h", true, false, 0, true, false, false, false, false, 2, 0},
      {"http/1.0 without host", "GET /x HTTP/1.0\r\n\r\n", Method::kGet, "GET", "/x", "/x", "", 0,
       "", false, false, 0, false, true, false, false, false, 0, 0},
      {"http/1.0 keep-alive", "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", Method::kGet,
       "GET", "/x", "/x", "", 0, "", false, false, 0, false, false, true, false, false, 1, 0},
      {"connection close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", Method::kGet,
       "GET", "/", "/", "", 1, "h", true, false, 0, false, true, false, false, false, 2, 0},
      {"connection list and upgrade",
       "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: "
       "websocket\r\n\r\n",
       Method::kGet, "GET", "/ws", "/ws", "", 1, "h", true, false, 0, false, false, true, false,
       true, 3, 0},
      {"expect 100-continue",
       "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n",
       Method::kPut, "PUT", "/f", "/f", "", 1, "h", true, true, 5, false, false, false, true, false,
       3, 0},
      {"expect ignored in http/1.0", "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nExpect: x\r\n\r\n",
       Method::kPut, "PUT", "/f", "/f", "", 0, "", false, false, 0, false, true, false, false,
       false, 2, 0},
      {"absolute-form", "GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n",
       Method::kGet, "GET", "http://example.com:8080/a/b?c=d", "/a/b", "c=d", 1, "example.com:8080",
       true, false, 0, false, false, false, false, false, 1, 0},
      {"absolute-form without path",
       "GET HTTPS://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n", Method::kGet, "GET",
       "HTTPS://example.com?q", "/", "q", 1, "example.com", true, false, 0, false, false, false,
       false, false, 1, 0},
      {"absolute-form http/1.0 without host", "GET http://[::1]:81 HTTP/1.0\r\n\r\n", Method::kGet,
       "GET", "http://[::1]:81", "/", "", 0, "[::1]:81", false, false, 0, false, true, false, false,
       false, 0, 0},
      {"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", Method::kOptions, "OPTIONS", "*",
       "*", "", 1, "h", true, false, 0, false, false, false, false, false, 1, 0},
      {"leading empty lines", "\r\n\r\nDELETE /d HTTP/1.1\r\nHost: h\r\n\r\n", Method::kDelete,
       "DELETE", "/d", "/d", "", 1, "h", true, false, 0, false, false, false, false, false, 1, 0},
      {"bytes after the head", "PATCH /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
       Method::kPatch, "PATCH", "/p", "/p", "", 1, "h", true, true, 5, false, false, false, false,
       false, 2, 49},
      {"higher minor version is 1.1", "TRACE / HTTP/1.7\r\nHost: h\r\n\r\n", Method::kTrace,
       "TRACE", "/", "/", "", 1, "h", true, false, 0, false, false, false, false, false, 1, 0},
      {"extension method", "PROPFIND /dav HTTP/1.1\r\nHost: h\r\n\r\n", Method::kOther, "PROPFIND",
       "/dav", "/dav", "", 1, "h", true, false, 0, false, false, false, false, false, 1, 0},
      {"methods are case-sensitive", "get / HTTP/1.1\r\nHost: h\r\n\r\n", Method::kOther, "get",
       "/", "/", "", 1, "h", true, false, 0, false, false, false, false, false, 1, 0},
      {"empty host, ipv6 literal elsewhere", "GET / HTTP/1.1\r\nHost:\r\nX-Ip: [::1]\r\n\r\n",
       Method::kGet, "GET", "/", "/", "", 1, "", true, false, 0, false, false, false, false, false,
       2, 0},
      {"ipv6 host", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", Method::kGet, "GET", "/",
       "/", "", 1, "[2001:db8::1]:8080", true, false, 0, false, false, false, false, false, 1, 0},
  };
  return cases;
}

void check_valid(const ValidCase& c, const RequestHead& h, const ParseResult& r) {
  INFO(c.name);
  REQUIRE(status_name(r.status) == "complete");
  CHECK(r.head_bytes == (c.head_bytes ? c.head_bytes : c.raw.size()));
  CHECK(h.method == c.method);
  CHECK(h.method_token == c.method_token);
  CHECK(h.target == c.target);
  CHECK(h.path == c.path);
  CHECK(h.query == c.query);
  CHECK(h.version_minor == c.version_minor);
  CHECK(h.host == c.host);
  CHECK(h.has_host == c.has_host);
  CHECK(h.framing.has_content_length == c.has_content_length);
  CHECK(h.framing.content_length == c.content_length);
  CHECK(h.framing.chunked == c.chunked);
  CHECK(h.framing.connection_close == c.close);
  CHECK(h.framing.connection_keep_alive == c.keep_alive);
  CHECK(h.framing.expect_continue == c.expect_continue);
  CHECK(h.framing.upgrade == c.upgrade);
  CHECK(h.headers.size() == c.headers);
}

TEST_CASE("valid request heads parse into every field", "[http]") {
  RequestHead head;
  for (const ValidCase& c : valid_cases()) {
    const ParseResult r = parse(c.raw, head);
    check_valid(c, head, r);
  }
}

TEST_CASE("header fields keep their order, names as sent, values without OWS", "[http]") {
  RequestHead head;
  const std::string raw =
      "GET / HTTP/1.1\r\nHost:  h \t\r\nX-Empty:\r\nx-obs: caf\xc3\xa9 \t ok\r\n"
      "X-Inner:  a  b\t\r\nCookie: k=v; j=w\r\n\r\n";
  const ParseResult r = parse(raw, head);
  REQUIRE(status_name(r.status) == "complete");
  REQUIRE(head.headers.size() == 5);
  CHECK(head.headers[0].name == "Host");
  CHECK(head.headers[0].value == "h");
  CHECK(head.host == "h");
  CHECK(head.headers[1].name == "X-Empty");
  CHECK(head.headers[1].value.empty());
  CHECK(head.headers[2].name == "x-obs");
  CHECK(head.headers[2].value == "caf\xc3\xa9 \t ok");
  CHECK(head.headers[3].value == "a  b");
  CHECK(head.headers[4].value == "k=v; j=w");
  for (const Header& h : head.headers) {
    CHECK(test::within(h.name, raw.data(), raw.size()));
    CHECK(test::within(h.value, raw.data(), raw.size()));
  }
}

TEST_CASE("parsing again reuses the header vector", "[http]") {
  RequestHead head;
  const std::string raw = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
  REQUIRE(parse(raw, head).status == ParseStatus::kComplete);
  const Header* storage = head.headers.data();
  REQUIRE(parse(raw, head).status == ParseStatus::kComplete);
  CHECK(head.headers.data() == storage);
  CHECK(head.headers.size() == 3);
}

struct RejectCase {
  std::string name;
  std::string raw;
  int status;
};

TEST_CASE("invalid request heads are rejected with their exact status", "[http]") {
  const std::string ok_line = "GET / HTTP/1.1\r\n";
  const std::string host = "Host: h\r\n";
  const std::vector<RejectCase> cases = {
      // line structure
      {"bare LF ends the request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
      {"bare LF ends a field", ok_line + "Host: h\n\r\n", 400},
      {"bare LF ends the head", ok_line + host + "\n", 400},
      {"bare LF before the request line", "\nGET / HTTP/1.1\r\n" + host + "\r\n", 400},
      {"bare CR before the request line", "\rGET / HTTP/1.1\r\n" + host + "\r\n", 400},
      {"bare CR ends a field", ok_line + "Host: h\rX: y\r\n\r\n", 400},
      {"bare CR inside a value", ok_line + host + "X: a\rb\r\n\r\n", 400},
      {"bare CR in the request line", "GET /\r HTTP/1.1\r\n" + host + "\r\n", 400},
      {"bare CR as the last line", ok_line + host + "\rX\r\n", 400},
      {"NUL in a value", ok_line + host + "X: a\0b\r\n\r\n"s, 400},
      {"NUL in a name", ok_line + host + "X\0: a\r\n\r\n"s, 400},
      {"NUL in the target", "GET /a\0b HTTP/1.1\r\n"s + host + "\r\n", 400},
      {"CTL in a value",
       ok_line + host +
           "X: a\x01"
           "b\r\n\r\n",
       400},
      {"DEL in a value", ok_line + host + "X: a\x7f\r\n\r\n", 400},
      {"vertical tab in a value", ok_line + host + "X: a\vb\r\n\r\n", 400},
      {"whitespace before colon", ok_line + "Host : h\r\n\r\n", 400},
      {"tab before colon", ok_line + host + "X\t: y\r\n\r\n", 400},
      {"obs-fold", ok_line + host + "X: a\r\n b\r\n\r\n", 400},
      {"obs-fold with tab", ok_line + host + "X: a\r\n\tb\r\n\r\n", 400},
      {"whitespace before the first field", ok_line + " " + host + "\r\n", 400},
      {"empty field name", ok_line + host + ": x\r\n\r\n", 400},
      {"field without colon", ok_line + host + "Xy\r\n\r\n", 400},
      {"invalid name character", ok_line + host + "X(y): z\r\n\r\n", 400},
      // request line
      {"double SP", "GET  / HTTP/1.1\r\n" + host + "\r\n", 400},
      {"SP before CRLF", "GET / HTTP/1.1 \r\n" + host + "\r\n", 400},
      {"missing version", "GET /\r\n" + host + "\r\n", 400},
      {"tab separator", "GET\t/ HTTP/1.1\r\n" + host + "\r\n", 400},
      {"lowercase version", "GET / http/1.1\r\n" + host + "\r\n", 400},
      {"two-digit minor", "GET / HTTP/1.10\r\n" + host + "\r\n", 400},
      {"two-digit major", "GET / HTTP/11.1\r\n" + host + "\r\n", 400},
      {"wrong protocol name", "GET / HTTPS/1.1\r\n" + host + "\r\n", 400},
      {"empty method", " / HTTP/1.1\r\n" + host + "\r\n", 400},
      {"invalid method", "GE(T / HTTP/1.1\r\n" + host + "\r\n", 400},
      {"fragment", "GET /a#b HTTP/1.1\r\n" + host + "\r\n", 400},
      {"relative target", "GET a/b HTTP/1.1\r\n" + host + "\r\n", 400},
      {"other scheme", "GET ftp://h/ HTTP/1.1\r\n" + host + "\r\n", 400},
      {"empty authority", "GET http:///a HTTP/1.1\r\n" + host + "\r\n", 400},
      {"userinfo", "GET http://u:p@h/ HTTP/1.1\r\n" + host + "\r\n", 400},
      {"invalid authority", "GET http://h<x>/ HTTP/1.1\r\n" + host + "\r\n", 400},
      {"asterisk without OPTIONS", "GET * HTTP/1.1\r\n" + host + "\r\n", 400},
      {"obs-text in the target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", 400},
      // Host
      {"missing Host", ok_line + "X: y\r\n\r\n", 400},
      {"two Hosts", ok_line + host + "host: h\r\n\r\n", 400},
      {"Host with a path", ok_line + "Host: h/x\r\n\r\n", 400},
      {"Host with userinfo", ok_line + "Host: u@h\r\n\r\n", 400},
      {"Host with spaces", ok_line + "Host: a b\r\n\r\n", 400},
      {"Host with an open bracket", ok_line + "Host: [::1\r\n\r\n", 400},
      {"Host with a bad port", ok_line + "Host: h:8x\r\n\r\n", 400},
      {"Host with only a port", ok_line + "Host: :80\r\n\r\n", 400},
      {"Host with two colons", ok_line + "Host: h:1:2\r\n\r\n", 400},
      // Content-Length
      {"CL not a number", ok_line + host + "Content-Length: abc\r\n\r\n", 400},
      {"CL negative", ok_line + host + "Content-Length: -1\r\n\r\n", 400},
      {"CL with a sign", ok_line + host + "Content-Length: +1\r\n\r\n", 400},
      {"CL with a space inside", ok_line + host + "Content-Length: 1 2\r\n\r\n", 400},
      {"CL hexadecimal", ok_line + host + "Content-Length: 0x10\r\n\r\n", 400},
      {"CL empty", ok_line + host + "Content-Length:\r\n\r\n", 400},
      {"CL differing list", ok_line + host + "Content-Length: 1, 2\r\n\r\n", 400},
      {"CL trailing comma", ok_line + host + "Content-Length: 1,\r\n\r\n", 400},
      {"CL overflow", ok_line + host + "Content-Length: 18446744073709551616\r\n\r\n", 400},
      {"CL differing fields", ok_line + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
       400},
      // Transfer-Encoding
      {"TE with CL", ok_line + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"TE with CL, TE first",
       ok_line + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"TE empty", ok_line + host + "Transfer-Encoding:\r\n\r\n", 400},
      {"TE only commas", ok_line + host + "Transfer-Encoding: , ,\r\n\r\n", 400},
      {"chunked not last", ok_line + host + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"chunked twice", ok_line + host + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"chunked twice over two fields",
       ok_line + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"no chunked at all", ok_line + host + "Transfer-Encoding: gzip\r\n\r\n", 400},
      {"chunked with a parameter", ok_line + host + "Transfer-Encoding: chunked;q=1\r\n\r\n", 400},
      {"TE not a token", ok_line + host + "Transfer-Encoding: \"chunked\"\r\n\r\n", 400},
      // 501
      {"unknown coding before chunked", ok_line + host + "Transfer-Encoding: gzip, chunked\r\n\r\n",
       501},
      {"unknown coding in an earlier field",
       ok_line + host + "Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501},
      // 505
      {"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", 505},
      {"HTTP/0.9", "GET / HTTP/0.9\r\n" + host + "\r\n", 505},
      {"HTTP/3.1", "GET / HTTP/3.1\r\n" + host + "\r\n", 505},
      // 417
      {"unknown expectation", ok_line + host + "Expect: something\r\n\r\n", 417},
      {"100-continue and more", ok_line + host + "Expect: 100-continue, x\r\n\r\n", 417},
  };
  RequestHead head;
  for (const RejectCase& c : cases) {
    INFO(c.name);
    const ParseResult r = parse(c.raw, head);
    CHECK(status_name(r.status) == "error");
    CHECK(r.error_status == c.status);
    CHECK_FALSE(r.error.empty());
  }
}

TEST_CASE("every byte position of a long value or target is checked", "[http]") {
  // The scanner reads 8 bytes at a time; put the byte to find at each offset.
  RequestHead head;
  struct Probe {
    char byte;
    bool ok_in_value;
    bool ok_in_target;
  };
  const std::vector<Probe> probes = {
      {'\t', true, false}, {'\x01', false, false}, {'\x7f', false, false}, {'\x80', true, false},
      {'#', true, false},  {'\0', false, false},   {'\n', false, false},   {'~', true, true}};
  for (const Probe& probe : probes) {
    for (size_t i = 0; i < 40; ++i) {
      INFO("byte " << static_cast<int>(static_cast<unsigned char>(probe.byte)) << " at " << i);
      std::string value(40, 'v');
      value[i] = probe.byte;
      std::string raw = "GET / HTTP/1.1\r\nHost: h\r\nX: " + value + "\r\n\r\n";
      ParseResult r = parse(raw, head);
      CHECK(r.status == (probe.ok_in_value ? ParseStatus::kComplete : ParseStatus::kError));
      if (probe.ok_in_value) {
        std::string_view want = value;  // leading and trailing HTAB are OWS
        while (want.front() == '\t') want.remove_prefix(1);
        while (want.back() == '\t') want.remove_suffix(1);
        CHECK(head.headers[1].value == want);
      }
      std::string target = "/" + std::string(40, 't');
      target[i + 1] = probe.byte;
      raw = "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
      r = parse(raw, head);
      CHECK(r.status == (probe.ok_in_target ? ParseStatus::kComplete : ParseStatus::kError));
      if (probe.ok_in_target) CHECK(head.target == target);
    }
  }
}

TEST_CASE("the request line and the head are bounded, even while incomplete", "[http]") {
  RequestLimits limits;
  limits.max_request_line = 32;
  limits.max_header_bytes = 64;
  RequestHead head;
  const std::string line32 = "GET /" + std::string(18, 'a') + " HTTP/1.1";  // 32 bytes
  REQUIRE(line32.size() == 32);
  const std::string host = "Host: h\r\n";

  CHECK(parse(line32 + "\r\n" + host + "\r\n", head, limits).status == ParseStatus::kComplete);
  ParseResult r = parse("GET /a" + line32.substr(5) + "\r\n" + host + "\r\n", head, limits);
  CHECK(r.error_status == 414);

  const std::string unterminated = "GET /" + std::string(40, 'a');
  CHECK(parse(unterminated.substr(0, 33), head, limits).status == ParseStatus::kIncomplete);
  r = parse(unterminated.substr(0, 34), head, limits);
  CHECK(status_name(r.status) == "error");
  CHECK(r.error_status == 414);

  // The head: exactly 64 bytes is accepted, 65 is not.
  const std::string head64 =
      "GET / HTTP/1.1\r\n" + host + "X: " + std::string(32, 'v') + "\r\n\r\n";
  REQUIRE(head64.size() == 64);
  r = parse(head64, head, limits);
  CHECK(status_name(r.status) == "complete");
  CHECK(r.head_bytes == 64);
  const std::string head65 =
      "GET / HTTP/1.1\r\n" + host + "X: " + std::string(33, 'v') + "\r\n\r\n";
  CHECK(parse(head65, head, limits).error_status == 431);
  CHECK(parse(head65.substr(0, 64), head, limits).status == ParseStatus::kIncomplete);
  r = parse(head65.substr(0, 65), head, limits);
  CHECK(status_name(r.status) == "error");
  CHECK(r.error_status == 431);
  // Leading empty lines count against the head limit.
  std::string crlfs;
  for (int i = 0; i < 40; ++i) crlfs += "\r\n";
  CHECK(parse(crlfs, head, limits).error_status == 431);
  CHECK(parse(crlfs.substr(0, 64), head, limits).status == ParseStatus::kIncomplete);
}

TEST_CASE("every split of a valid head is incomplete until its last byte", "[http]") {
  RequestHead head;
  for (const ValidCase& c : valid_cases()) {
    INFO(c.name);
    const size_t n = c.head_bytes ? c.head_bytes : c.raw.size();
    for (size_t len = 0; len < n; ++len) {
      const ParseResult r = parse_request_head(c.raw.data(), len, RequestLimits{}, head);
      INFO("prefix " << len);
      REQUIRE(status_name(r.status) == "incomplete");
    }
    const ParseResult r = parse_request_head(c.raw.data(), n, RequestLimits{}, head);
    check_valid(c, head, r);
  }
}

// Properties every answer must have, whatever the input.
void check_consistent(const std::string& raw, RequestHead& head) {
  const ParseResult r = parse(raw, head);
  switch (r.status) {
    case ParseStatus::kError: {
      const int s = r.error_status;
      CHECK((s == 400 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505));
      CHECK_FALSE(r.error.empty());
      break;
    }
    case ParseStatus::kIncomplete:
      break;
    case ParseStatus::kComplete: {
      REQUIRE(r.head_bytes <= raw.size());
      CHECK(test::within(head.target, raw.data(), raw.size()));
      CHECK(test::within(head.host, raw.data(), raw.size()));
      for (const Header& h : head.headers) {
        CHECK(test::within(h.name, raw.data(), raw.size()));
        CHECK(test::within(h.value, raw.data(), raw.size()));
      }
      CHECK_FALSE((head.framing.chunked && head.framing.has_content_length));
      // The head alone gives the same answer; any shorter prefix is incomplete.
      RequestHead again;
      const ParseResult r2 = parse(std::string_view(raw).substr(0, r.head_bytes), again);
      REQUIRE(r2.status == ParseStatus::kComplete);
      CHECK(r2.head_bytes == r.head_bytes);
      CHECK(again.headers.size() == head.headers.size());
      CHECK(again.framing.content_length == head.framing.content_length);
      CHECK(parse(std::string_view(raw).substr(0, r.head_bytes - 1), again).status ==
            ParseStatus::kIncomplete);
      break;
    }
  }
}

TEST_CASE("mutated request heads never crash and answer consistently", "[http]") {
  test::Rng rng(0x5eed1234);
  RequestHead head;
  const auto& cases = valid_cases();
  int complete = 0;
  int errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string raw = cases[rng.below(cases.size())].raw;
    const size_t edits = 1 + rng.below(4);
    for (size_t e = 0; e < edits; ++e) test::mutate(raw, rng);
    const ParseResult r = parse(raw, head);
    complete += r.status == ParseStatus::kComplete;
    errors += r.status == ParseStatus::kError;
    check_consistent(raw, head);
  }
  // Both outcomes are exercised, so the properties above were really checked.
  CHECK(complete > 1000);
  CHECK(errors > 1000);
}

TEST_CASE("method names and parsing are exact", "[http]") {
  const std::vector<std::pair<std::string, Method>> cases = {
      {"GET", Method::kGet},         {"HEAD", Method::kHead},     {"POST", Method::kPost},
      {"PUT", Method::kPut},         {"DELETE", Method::kDelete}, {"CONNECT", Method::kConnect},
      {"OPTIONS", Method::kOptions}, {"TRACE", Method::kTrace},   {"PATCH", Method::kPatch},
  };
  for (const auto& [name, method] : cases) {
    CHECK(parse_method(name) == method);
    CHECK(method_name(method) == name);
  }
  CHECK(method_name(Method::kOther) == "OTHER");
  for (const char* other : {"get", "Get", "GETS", "", "PURGE", "OPTION"}) {
    CHECK(parse_method(other) == Method::kOther);
  }
}

TEST_CASE("hop-by-hop names and Connection lists compare case-insensitively", "[http]") {
  for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                           "transfer-encoding", "UPGRADE"}) {
    CHECK(is_hop_by_hop(name));
  }
  for (const char* name : {"Host", "Content-Length", "Trailers", "T", "X-Connection", ""}) {
    CHECK_FALSE(is_hop_by_hop(name));
  }
  CHECK(iequals("Content-Length", "content-LENGTH"));
  CHECK_FALSE(iequals("a", "ab"));
  CHECK_FALSE(iequals("[", "{"));
  CHECK(connection_lists("keep-alive, X-Foo", "x-foo"));
  CHECK(connection_lists(" close ", "Close"));
  CHECK(connection_lists("a,,b", "b"));
  CHECK_FALSE(connection_lists("x-foobar", "x-foo"));
  CHECK_FALSE(connection_lists("", "close"));
}

}  // namespace
}  // namespace routemeter::http
