// Internal to the HTTP/1.1 parser (src/http_*.cpp): character classes, the
// field-line scanner shared by request heads, response heads and chunked
// trailers, and the accumulators that turn Content-Length, Transfer-Encoding
// and Connection fields into a Framing. Pure functions and plain values; any
// thread may use them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "routemeter/http.hpp"

namespace routemeter::http::detail {

// Character classes (bit flags in one 256-entry table).
inline constexpr uint8_t kTchar = 1;       // RFC 9110 5.6.2 tchar
inline constexpr uint8_t kFieldChar = 2;   // field-vchar, SP, HTAB (RFC 9110 5.5)
inline constexpr uint8_t kTargetChar = 4;  // VCHAR except '#' (request-target)
inline constexpr uint8_t kHostChar = 8;    // RFC 3986 reg-name / IP-literal / port octets

constexpr std::array<uint8_t, 256> make_char_table() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t f = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      f |= kTchar;
    }
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) f |= kFieldChar;
    if (c > 0x20 && c < 0x7f && c != '#') f |= kTargetChar;
    if (alpha || digit ||
        std::string_view("-._~%!$&'()*+,;=:[]").find(static_cast<char>(c)) !=
            std::string_view::npos) {
      f |= kHostChar;
    }
    t[static_cast<size_t>(c)] = f;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kCharTable = make_char_table();

inline bool has_class(char c, uint8_t cls) {
  return (kCharTable[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool is_tchar(char c) { return has_class(c, kTchar); }
inline bool is_field_char(char c) { return has_class(c, kFieldChar); }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Word-at-a-time scanning (SWAR): the common bytes of values and targets are
// checked 8 at a time, falling back to the table at the first word that holds
// anything unusual. Exact: the per-byte loop decides every stop.
inline uint64_t load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline constexpr uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr uint64_t kHighs = 0x8080808080808080ULL;
// Non-zero iff some byte of x is below n (n <= 128).
inline uint64_t has_less(uint64_t x, uint8_t n) { return (x - kOnes * n) & ~x & kHighs; }
// Non-zero iff some byte of x equals b.
inline uint64_t has_byte(uint64_t x, uint8_t b) {
  const uint64_t v = x ^ (kOnes * b);
  return (v - kOnes) & ~v & kHighs;
}

// Returns the first byte at or after s that is not of class `cls`; `unusual`
// flags words that may hold one.
template <typename Unusual>
inline const char* skip_class(const char* s, const char* end, uint8_t cls, Unusual unusual) {
  for (;;) {
    while (end - s >= 8 && !unusual(load8(s))) s += 8;
    const char* const stop = (end - s >= 8) ? s + 8 : end;
    while (s != stop && has_class(*s, cls)) ++s;
    if (s != stop || s == end) return s;
  }
}

// Skips field-vchar / SP / HTAB (stops at CR, LF, other CTLs, DEL or end).
inline const char* skip_field_chars(const char* s, const char* end) {
  return skip_class(s, end, kFieldChar,
                    [](uint64_t x) { return (has_less(x, 0x20) | has_byte(x, 0x7f)) != 0; });
}

// Skips request-target bytes (VCHAR but '#').
inline const char* skip_target_chars(const char* s, const char* end) {
  return skip_class(s, end, kTargetChar, [](uint64_t x) {
    return (has_less(x, 0x21) | has_byte(x, 0x7f) | has_byte(x, '#') | (x & kHighs)) != 0;
  });
}

// Outcome of one step of the head scanner.
enum class Step : uint8_t { kOk, kEnd, kMore, kError };

// Why a byte that ended a token is not acceptable there, for log messages.
inline std::string_view describe_stray(char c, std::string_view otherwise) {
  switch (c) {
    case '\n':
      return "bare LF";
    case '\r':
      return "bare CR";
    case '\0':
      return "NUL in head";
    case '\t':
      return otherwise;
    default:
      return (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? "control character in head"
                                                                 : otherwise;
  }
}

// Scans one field line ("name: value CRLF") or the empty line that ends a
// head, starting at `p`. kOk: `h` is set and `p` moves past the CRLF. kEnd: the
// empty line; `p` moves past it. kMore: the line is not complete before `end`.
// kError: `err` says why. Rejects obs-fold, whitespace before the colon, an
// empty name, bare CR/LF and CTLs (NUL included) in the value.
inline Step scan_field_line(const char*& p, const char* end, Header& h, std::string_view& err) {
  const char* s = p;
  if (s == end) return Step::kMore;
  if (*s == '\r') {
    if (s + 1 == end) return Step::kMore;
    if (s[1] != '\n') {
      err = "bare CR";
      return Step::kError;
    }
    p = s + 2;
    return Step::kEnd;
  }
  const char* name = s;
  while (s != end && is_tchar(*s)) ++s;
  if (s == end) return Step::kMore;
  if (*s != ':' || s == name) {
    if (s == name && is_ows(*s)) {
      err = "obs-fold (line starting with whitespace)";
    } else if (is_ows(*s)) {
      err = "whitespace before colon";
    } else if (*s == ':') {
      err = "empty field name";
    } else if (*s == '\r') {
      err = "field line without colon";
    } else {
      err = describe_stray(*s, "invalid character in field name");
    }
    return Step::kError;
  }
  h.name = std::string_view(name, static_cast<size_t>(s - name));
  ++s;
  while (s != end && is_ows(*s)) ++s;
  const char* value = s;
  s = skip_field_chars(s, end);
  if (s == end) return Step::kMore;
  if (*s != '\r') {
    err = describe_stray(*s, "invalid character in field value");
    return Step::kError;
  }
  if (s + 1 == end) return Step::kMore;
  if (s[1] != '\n') {
    err = "bare CR";
    return Step::kError;
  }
  const char* value_end = s;
  while (value_end != value && is_ows(value_end[-1])) --value_end;
  h.value = std::string_view(value, static_cast<size_t>(value_end - value));
  p = s + 2;
  return Step::kOk;
}

// Parses "HTTP/" DIGIT "." DIGIT at `p`. kOk: `major`/`minor` set, `p` moved.
inline Step scan_version(const char*& p, const char* end, int& major, int& minor) {
  static constexpr std::string_view kPrefix = "HTTP/";
  const char* s = p;
  for (char want : kPrefix) {
    if (s == end) return Step::kMore;
    if (*s++ != want) return Step::kError;
  }
  if (s == end) return Step::kMore;
  if (*s < '0' || *s > '9') return Step::kError;
  major = *s++ - '0';
  if (s == end) return Step::kMore;
  if (*s++ != '.') return Step::kError;
  if (s == end) return Step::kMore;
  if (*s < '0' || *s > '9') return Step::kError;
  minor = *s++ - '0';
  p = s;
  return Step::kOk;
}

// Which framing-relevant field a name is (compared case-insensitively).
enum class FieldKind : uint8_t {
  kOther,
  kHost,
  kContentLength,
  kTransferEncoding,
  kConnection,
  kExpect,
  kUpgrade
};
FieldKind classify_field(std::string_view name);

// Parses a Content-Length value: 1*DIGIT, or a comma-separated list of equal
// values (RFC 9110 8.6). False on anything else or on uint64 overflow.
bool parse_content_length(std::string_view value, uint64_t& out);

// Accumulates Transfer-Encoding field values (possibly several fields) in order.
struct CodingList {
  uint32_t codings = 0;  // non-empty list members seen
  uint32_t chunked = 0;  // how many of them are "chunked"
  bool last_chunked = false;
  bool unknown = false;    // a coding other than chunked
  bool malformed = false;  // a member that is not token *(;param), or "chunked;param"
  void add(std::string_view value);
};

// What an Expect value asks for. Empty members are ignored.
enum class Expectation : uint8_t { kNone, kContinue, kOther };
Expectation classify_expect(std::string_view value);

// Sets connection_close / connection_keep_alive from a Connection value.
void scan_connection(std::string_view value, Framing& framing);

// Whether `value` is a valid Host value / authority: reg-name or IPv4 or
// "[IP-literal]", optional ":" *DIGIT, no userinfo. Empty is valid.
bool valid_host(std::string_view value);

// Applies one Content-Length field to `framing`; false if invalid or it
// disagrees with an earlier one.
inline bool add_content_length(std::string_view value, Framing& framing) {
  uint64_t n = 0;
  if (!parse_content_length(value, n)) return false;
  if (framing.has_content_length && framing.content_length != n) return false;
  framing.has_content_length = true;
  framing.content_length = n;
  return true;
}

}  // namespace routemeter::http::detail
