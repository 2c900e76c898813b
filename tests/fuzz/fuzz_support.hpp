// Shared by the libFuzzer targets in tests/fuzz/.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "routemeter/http.hpp"

namespace routemeter::fuzz {

// An invariant of the code under test: when it does not hold, libFuzzer
// records the input as a crash (SIGABRT) and the message says which one.
#define FUZZ_REQUIRE(cond)                                                                   \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

// Whether `view` lies inside [base, base + len) (or is empty).
inline bool within(std::string_view view, const char* base, size_t len) {
  if (view.empty()) return true;
  return view.data() >= base && view.data() + view.size() <= base + len;
}

// Whether the head [data, data + n) ends with the empty line CRLF CRLF.
inline bool ends_with_empty_line(const char* data, size_t n) {
  return n >= 4 && std::string_view(data + n - 4, 4) == "\r\n\r\n";
}

// Two parses of the same bytes gave the same framing.
inline bool same_framing(const http::Framing& a, const http::Framing& b) {
  return a.has_content_length == b.has_content_length && a.content_length == b.content_length &&
         a.chunked == b.chunked && a.connection_close == b.connection_close &&
         a.connection_keep_alive == b.connection_keep_alive &&
         a.expect_continue == b.expect_continue && a.upgrade == b.upgrade;
}

// ... and the same header fields, in order.
inline bool same_headers(const std::vector<http::Header>& a, const std::vector<http::Header>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].value != b[i].value) return false;
  }
  return true;
}

}  // namespace routemeter::fuzz
