// The value syntaxes of the config file: durations, sizes, host:port.
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "routemeter/config.hpp"

using routemeter::ConfigError;
using routemeter::Duration;
using routemeter::format_duration;
using routemeter::HostPort;
using routemeter::parse_duration;
using routemeter::parse_host_port;
using routemeter::parse_size;

TEST_CASE("durations take an integer and a unit ms, s, m or h", "[config]") {
  struct Case {
    const char* text;
    int64_t ms;
  };
  const Case cases[] = {
      {"250ms", 250},
      {"0ms", 0},
      {"0s", 0},
      {"10s", 10'000},
      {"2m", 120'000},
      {"1h", 3'600'000},
      {"007s", 7'000},
      {"1000ms", 1'000},
      {"48h", 172'800'000},
      // The largest number of milliseconds a Duration holds.
      {"9223372036854775807ms", 9223372036854775807},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    std::optional<Duration> d = parse_duration(c.text);
    REQUIRE(d.has_value());
    CHECK(d->count() == c.ms);
  }
}

TEST_CASE("durations without a unit, with a sign, a fraction or too large are rejected",
          "[config]") {
  const char* bad[] = {
      "",
      "10",
      "-1s",
      "+1s",
      "1.5s",
      " 1s",
      "1s ",
      "1 s",
      "s",
      "1S",
      "1sec",
      "1ms1",
      "1d",
      "1us",
      "1m30s",
      "0x10s",
      "ms",
      "9223372036854775808ms",  // one past int64
      "2562047788016h",         // hours times 3.6e6 overflows int64
      "99999999999999999999s",  // does not even fit uint64
  };
  for (const char* text : bad) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_duration(text).has_value());
  }
  // The largest whole number of hours that fits.
  CHECK(parse_duration("2562047788015h").has_value());
}

TEST_CASE("durations format in the largest exact unit", "[config]") {
  CHECK(format_duration(Duration(0)) == "0s");
  CHECK(format_duration(Duration(250)) == "250ms");
  CHECK(format_duration(Duration(1500)) == "1500ms");
  CHECK(format_duration(Duration(10'000)) == "10s");
  CHECK(format_duration(Duration(90'000)) == "90s");
  CHECK(format_duration(Duration(120'000)) == "2m");
  CHECK(format_duration(Duration(3'600'000)) == "1h");
  CHECK(format_duration(Duration(5'400'000)) == "90m");
  for (const char* text : {"250ms", "10s", "2m", "1h", "1500ms"}) {
    CHECK(format_duration(*parse_duration(text)) == text);
  }
}

TEST_CASE("sizes are bytes, B, KiB, MiB or GiB", "[config]") {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  const Case cases[] = {
      {"0", 0},
      {"512", 512},
      {"512B", 512},
      {"16KiB", 16 * 1024},
      {"8MiB", 8 * 1024 * 1024},
      {"1GiB", 1024ull * 1024 * 1024},
      {"18446744073709551615", 18446744073709551615ull},
      {"17179869183GiB", 17179869183ull << 30},  // the largest GiB count that fits
  };
  for (const Case& c : cases) {
    INFO(c.text);
    std::optional<uint64_t> n = parse_size(c.text);
    REQUIRE(n.has_value());
    CHECK(*n == c.bytes);
  }
}

TEST_CASE("sizes with decimal or unknown units, signs or overflow are rejected", "[config]") {
  const char* bad[] = {"",
                       "KiB",
                       "16KB",
                       "16kb",
                       "16K",
                       "16k",
                       "8MB",
                       "1GB",
                       "16kib",
                       "1TiB",
                       "-1",
                       "+1",
                       "1.5MiB",
                       "16 KiB",
                       " 16",
                       "16KiB ",
                       "0x10",
                       "18446744073709551616",
                       "17179869184GiB"};  // 2^34 GiB = 2^64 bytes
  for (const char* text : bad) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_size(text).has_value());
  }
}

TEST_CASE("host:port parses names, IPv4 and bracketed IPv6", "[config]") {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
  };
  const Case cases[] = {
      {"127.0.0.1:80", "127.0.0.1", 80},
      {"localhost:9901", "localhost", 9901},
      {"0.0.0.0:0", "0.0.0.0", 0},
      {"backend-1.internal:65535", "backend-1.internal", 65535},
      {"[::1]:80", "::1", 80},
      {"[::]:8080", "::", 8080},
      {"[2001:db8::42]:443", "2001:db8::42", 443},
      {"[::ffff:127.0.0.1]:1", "::ffff:127.0.0.1", 1},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    std::optional<HostPort> hp = parse_host_port(c.text);
    REQUIRE(hp.has_value());
    CHECK(hp->host == c.host);
    CHECK(hp->port == c.port);
    CHECK(hp->text() == c.text);  // text() is the inverse
  }
}

TEST_CASE("host:port without a host, a port, brackets for IPv6 or in range is rejected",
          "[config]") {
  const char* bad[] = {
      "",         ":80",      "host",           "host:",       "host:99999",  "host:65536",
      "host:-1",  "host:+80", "host:8o",        "host:000080", "[::1]",       "[::1]:",
      "[::1]80",  "::1:80",   "[]:80",          "[::1:80",     "[not-v6]:80", "[127.0.0.1]:80",
      "ho st:80", "host:80 ", "http://host:80",
  };
  for (const char* text : bad) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_host_port(text).has_value());
  }
}

TEST_CASE("config errors print as file:line:col: message", "[config]") {
  CHECK(ConfigError{"conf/a.toml", {14, 10}, "boom"}.to_string() == "conf/a.toml:14:10: boom");
  // No position (the file could not be read): just the file.
  CHECK(ConfigError{"conf/a.toml", {}, "cannot open"}.to_string() == "conf/a.toml: cannot open");
}
