#include "routemeter/request_record.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>

namespace routemeter {

std::string_view upstream_error_name(UpstreamError e) {
  switch (e) {
    case UpstreamError::kNone:
      return "none";
    case UpstreamError::kConnectRefused:
      return "connect_refused";
    case UpstreamError::kConnectTimeout:
      return "connect_timeout";
    case UpstreamError::kResponseTimeout:
      return "response_timeout";
    case UpstreamError::kReset:
      return "reset";
    case UpstreamError::kBadResponse:
      return "bad_response";
    case UpstreamError::kNoHealthyServer:
      return "no_healthy_server";
  }
  return "none";
}

int upstream_error_status(UpstreamError e) {
  switch (e) {
    case UpstreamError::kNone:
      return 0;
    case UpstreamError::kConnectTimeout:
    case UpstreamError::kResponseTimeout:
      return 504;
    case UpstreamError::kConnectRefused:
    case UpstreamError::kReset:
    case UpstreamError::kBadResponse:
    case UpstreamError::kNoHealthyServer:
      return 502;
  }
  return 502;
}

void RawPath::assign(std::string_view path) {
  truncated = path.size() > kMaxBytes;
  size = static_cast<uint16_t>(std::min(path.size(), kMaxBytes));
  copy_short(bytes, path.substr(0, size));
}

namespace {

// 16 lower-case hex digits as a number, 8 bytes at a time (a traceparent is
// 48 digits on the request path); false on any other character.
bool hex16(std::string_view text, uint64_t& out) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  // Per byte, 0x80 where it is >= n (for bytes below 0x80: no borrow crosses).
  auto at_least = [](uint64_t x, unsigned n) { return ((x | kHigh) - (n * kOnes)) & kHigh; };
  uint64_t value = 0;
  for (size_t half = 0; half < 2; ++half) {
    uint64_t x = 0;
    std::memcpy(&x, text.data() + (8 * half), 8);  // byte 0: the first digit (little-endian)
    if ((x & kHigh) != 0) return false;
    const uint64_t digit = at_least(x, '0') & ~at_least(x, '9' + 1);
    const uint64_t lower = at_least(x, 'a') & ~at_least(x, 'f' + 1);
    if ((digit | lower) != kHigh) return false;
    // '0'-'9' -> 0-9; 'a'-'f' (bit 6 set) -> 1-6 + 9.
    uint64_t v = (x & (0x0f * kOnes)) + (((x >> 6) & kOnes) * 9);
    // Nibbles to a number, first digit most significant.
    v = ((v & 0x000f000f000f000full) << 4) | ((v >> 8) & 0x000f000f000f000full);
    v = ((v & 0x000000ff000000ffull) << 8) | ((v >> 16) & 0x000000ff000000ffull);
    v = ((v & 0xffffull) << 16) | (v >> 32);
    value = (value << 32) | v;
  }
  out = value;
  return true;
}

// Two lower-case hex digits.
bool hex2(std::string_view text, uint64_t& out) {
  uint64_t v = 0;
  for (size_t i = 0; i < 2; ++i) {
    const char c = text[i];
    uint64_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c) - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c) - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  out = v;
  return true;
}

}  // namespace

bool parse_traceparent(std::string_view v, TraceId& out) {
  // 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
  constexpr size_t kLength = 55;
  if (v.size() < kLength || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  uint64_t version = 0;
  uint64_t high = 0;
  uint64_t low = 0;
  uint64_t parent = 0;
  uint64_t flags = 0;
  if (!hex2(v, version) || !hex16(v.substr(3), high) || !hex16(v.substr(19), low) ||
      !hex16(v.substr(36), parent) || !hex2(v.substr(53), flags)) {
    return false;
  }
  if (version == 0xff) return false;
  if (version == 0 ? v.size() != kLength : (v.size() > kLength && v[kLength] != '-')) return false;
  if ((high | low) == 0 || parent == 0) return false;
  out = TraceId{high, low};
  return true;
}

TraceId find_trace_id(const std::vector<http::Header>& headers) {
  TraceId id;
  bool seen = false;
  for (const http::Header& h : headers) {
    if (h.name.size() != 11 || !http::iequals(h.name, "traceparent")) continue;
    if (seen) return {};  // two: neither is trusted
    seen = true;
    if (!parse_traceparent(h.value, id)) id = {};
  }
  return id;
}

std::string trace_id_hex(const TraceId& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = kHex[(id.high >> (4 * i)) & 15];
    out[31 - i] = kHex[(id.low >> (4 * i)) & 15];
  }
  return out;
}

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace routemeter
