// libFuzzer target: parse_request_head (src/http_request.cpp). Built with
// ROUTEMETER_FUZZ=ON (tests/fuzz/CMakeLists.txt), run by scripts/fuzz.sh.
//
// Besides crashes and sanitizer reports, it aborts when an answer depends on
// how the bytes were split or breaks the documented contract: a complete head
// re-parses identically from exactly its bytes, every shorter prefix of it is
// incomplete, errors carry one of the documented statuses, and the views
// returned point into the input.
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "routemeter/http.hpp"

namespace {

using namespace routemeter::http;
using routemeter::fuzz::ends_with_empty_line;
using routemeter::fuzz::same_framing;
using routemeter::fuzz::same_headers;
using routemeter::fuzz::within;

bool same_head(const RequestHead& a, const RequestHead& b) {
  return a.method == b.method && a.method_token == b.method_token && a.target == b.target &&
         a.path == b.path && a.query == b.query && a.version_minor == b.version_minor &&
         a.host == b.host && a.has_host == b.has_host && same_framing(a.framing, b.framing) &&
         same_headers(a.headers, b.headers);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const auto* data = reinterpret_cast<const char*>(bytes);
  RequestLimits limits;
  limits.max_request_line = 512;
  limits.max_header_bytes = 2048;
  RequestHead head;
  const ParseResult r = parse_request_head(data, size, limits, head);
  if (r.status == ParseStatus::kError) {
    const int s = r.error_status;
    FUZZ_REQUIRE(s == 400 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505);
    FUZZ_REQUIRE(!r.error.empty());
    return 0;
  }
  if (r.status != ParseStatus::kComplete) return 0;

  FUZZ_REQUIRE(r.head_bytes <= size && r.head_bytes <= limits.max_header_bytes);
  FUZZ_REQUIRE(ends_with_empty_line(data, r.head_bytes));
  FUZZ_REQUIRE(head.version_minor == 0 || head.version_minor == 1);
  FUZZ_REQUIRE(head.method != Method::kConnect);
  FUZZ_REQUIRE(head.version_minor == 0 || head.has_host);
  FUZZ_REQUIRE(!(head.framing.chunked && head.framing.has_content_length));
  FUZZ_REQUIRE(!(head.framing.chunked && head.version_minor == 0));
  FUZZ_REQUIRE(!head.method_token.empty() && within(head.method_token, data, r.head_bytes));
  FUZZ_REQUIRE(!head.target.empty() && within(head.target, data, r.head_bytes));
  FUZZ_REQUIRE(!head.path.empty() && (head.path[0] == '/' || head.path == "*"));
  FUZZ_REQUIRE(head.path == "/" || within(head.path, data, r.head_bytes));
  FUZZ_REQUIRE(within(head.query, data, r.head_bytes));
  FUZZ_REQUIRE(within(head.host, data, r.head_bytes));
  for (const Header& h : head.headers) {
    FUZZ_REQUIRE(!h.name.empty() && within(h.name, data, r.head_bytes));
    FUZZ_REQUIRE(within(h.value, data, r.head_bytes));
  }

  // Exactly the head's bytes give the same head; any fewer are incomplete.
  RequestHead again;
  const ParseResult r2 = parse_request_head(data, r.head_bytes, limits, again);
  FUZZ_REQUIRE(r2.status == ParseStatus::kComplete && r2.head_bytes == r.head_bytes);
  FUZZ_REQUIRE(same_head(head, again));
  for (size_t len = 0; len < r.head_bytes; ++len) {
    FUZZ_REQUIRE(parse_request_head(data, len, limits, again).status == ParseStatus::kIncomplete);
  }
  return 0;
}
