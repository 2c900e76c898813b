// Shared by the libFuzzer targets in tests/fuzz/.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

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

}  // namespace routemeter::fuzz
