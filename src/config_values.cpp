// The value syntaxes of the config file (durations, sizes, host:port) and the
// small formatting helpers of config.hpp. Pure functions; any thread.
#include <arpa/inet.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "routemeter/config.hpp"

namespace routemeter {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Splits "123unit" into its leading decimal digits and the rest. Rejects signs,
// spaces, fractions: only the digits go to the number.
bool split_number(std::string_view text, uint64_t& number, std::string_view& unit) {
  size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  if (digits == 0) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits) return false;  // overflow
  unit = text.substr(digits);
  return true;
}

bool multiply(uint64_t a, uint64_t b, uint64_t max, uint64_t& out) {
  if (a != 0 && b > max / a) return false;
  out = a * b;
  return true;
}

bool is_hostname_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' ||
         c == '_';
}

std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  uint32_t port = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) return std::nullopt;
  return static_cast<uint16_t>(port);
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit)) return std::nullopt;
  uint64_t ms_per_unit = 0;
  if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "m") {
    ms_per_unit = 60 * 1000;
  } else if (unit == "h") {
    ms_per_unit = 60 * 60 * 1000;
  } else {
    return std::nullopt;  // includes a missing unit: "10" is ambiguous
  }
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max());
  uint64_t ms = 0;
  if (!multiply(number, ms_per_unit, kMax, ms)) return std::nullopt;
  return Duration(static_cast<Duration::rep>(ms));
}

std::optional<uint64_t> parse_size(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit)) return std::nullopt;
  uint64_t bytes_per_unit = 0;
  if (unit.empty() || unit == "B") {
    bytes_per_unit = 1;
  } else if (unit == "KiB") {
    bytes_per_unit = uint64_t{1} << 10;
  } else if (unit == "MiB") {
    bytes_per_unit = uint64_t{1} << 20;
  } else if (unit == "GiB") {
    bytes_per_unit = uint64_t{1} << 30;
  } else {
    return std::nullopt;  // "16KB", "16k": decimal or vague units are not accepted
  }
  uint64_t bytes = 0;
  if (!multiply(number, bytes_per_unit, std::numeric_limits<uint64_t>::max(), bytes)) {
    return std::nullopt;
  }
  return bytes;
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return std::nullopt;  // "[::1]" has no port
    port_text = rest.substr(1);
    // inet_pton wants a NUL-terminated string; addresses are short.
    std::string address(host);
    in6_addr parsed{};
    if (address.empty() || inet_pton(AF_INET6, address.c_str(), &parsed) != 1) {
      return std::nullopt;
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.empty()) return std::nullopt;  // ":80": say which address
    for (char c : host) {
      if (!is_hostname_char(c)) return std::nullopt;  // also an unbracketed IPv6 address
    }
  }
  std::optional<uint16_t> port = parse_port(port_text);
  if (!port) return std::nullopt;
  return HostPort{std::string(host), *port};
}

std::string HostPort::text() const {
  std::string out;
  bool v6 = host.find(':') != std::string::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string format_duration(Duration duration) {
  const int64_t ms = duration.count();
  if (ms == 0) return "0s";
  if (ms % (60 * 60 * 1000) == 0) return std::to_string(ms / (60 * 60 * 1000)) + "h";
  if (ms % (60 * 1000) == 0) return std::to_string(ms / (60 * 1000)) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string_view tls_version_name(TlsVersion version) {
  return version == TlsVersion::kTls13 ? "1.3" : "1.2";
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (position.line != 0) {
    out += ':';
    out += std::to_string(position.line);
    out += ':';
    out += std::to_string(position.column);
  }
  out += ": ";
  out += message;
  return out;
}

}  // namespace routemeter
