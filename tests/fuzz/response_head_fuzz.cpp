// libFuzzer target: parse_response_head (src/http_response.cpp). Built with
// ROUTEMETER_FUZZ=ON (tests/fuzz/CMakeLists.txt), run by scripts/fuzz.sh.
//
// Besides crashes and sanitizer reports, it aborts when an answer depends on
// how the bytes were split or breaks the documented contract: a complete head
// re-parses identically from exactly its bytes, every shorter prefix of it is
// incomplete, every error is a 502, and the views returned point into the input.
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

constexpr size_t kMaxBytes = 2048;

bool same_head(const ResponseHead& a, const ResponseHead& b) {
  return a.status == b.status && a.reason == b.reason && a.version_minor == b.version_minor &&
         same_framing(a.framing, b.framing) && same_headers(a.headers, b.headers);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const auto* data = reinterpret_cast<const char*>(bytes);
  ResponseHead head;
  const ParseResult r = parse_response_head(data, size, kMaxBytes, head);
  if (r.status == ParseStatus::kError) {
    FUZZ_REQUIRE(r.error_status == 502 && !r.error.empty());
    return 0;
  }
  if (r.status != ParseStatus::kComplete) return 0;

  FUZZ_REQUIRE(r.head_bytes <= size && r.head_bytes <= kMaxBytes);
  FUZZ_REQUIRE(ends_with_empty_line(data, r.head_bytes));
  FUZZ_REQUIRE(head.status >= 100 && head.status <= 599);
  FUZZ_REQUIRE(head.version_minor == 0 || head.version_minor == 1);
  FUZZ_REQUIRE(!(head.framing.chunked && head.framing.has_content_length));
  FUZZ_REQUIRE(!(head.framing.chunked && head.version_minor == 0));
  FUZZ_REQUIRE(within(head.reason, data, r.head_bytes));
  for (const Header& h : head.headers) {
    FUZZ_REQUIRE(!h.name.empty() && within(h.name, data, r.head_bytes));
    FUZZ_REQUIRE(within(h.value, data, r.head_bytes));
  }
  // Informational and bodiless answers are decided by status and method only.
  FUZZ_REQUIRE(response_has_no_body(Method::kHead, head.status));
  FUZZ_REQUIRE(response_has_no_body(Method::kGet, head.status) ==
               (head.status < 200 || head.status == 204 || head.status == 304));

  // Exactly the head's bytes give the same head; any fewer are incomplete.
  ResponseHead again;
  const ParseResult r2 = parse_response_head(data, r.head_bytes, kMaxBytes, again);
  FUZZ_REQUIRE(r2.status == ParseStatus::kComplete && r2.head_bytes == r.head_bytes);
  FUZZ_REQUIRE(same_head(head, again));
  for (size_t len = 0; len < r.head_bytes; ++len) {
    FUZZ_REQUIRE(parse_response_head(data, len, kMaxBytes, again).status ==
                 ParseStatus::kIncomplete);
  }
  return 0;
}
