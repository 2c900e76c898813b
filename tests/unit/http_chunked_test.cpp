// Chunked body parser: decoded data, every framing error, the bounds on
// lines and trailers, and that any split of the input (byte at a time,
// random pieces, mutated bodies) gives the same answer.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "http_test_support.hpp"
#include "routemeter/http.hpp"

namespace routemeter::http {
namespace {

using State = ChunkedParser::State;
using namespace std::string_literals;

struct Decoded {
  std::string data;
  size_t consumed = 0;  // framing + data bytes used from the input
  bool done = false;
  bool failed = false;
  uint64_t body_bytes = 0;
};

// Drives a parser over `raw` delivered in pieces chosen by `next_piece`, the
// way the proxy does: framing through parse(), data moved by the caller.
template <typename NextPiece>
Decoded decode(std::string_view raw, NextPiece&& next_piece) {
  ChunkedParser parser;
  Decoded out;
  size_t pos = 0;
  while (pos < raw.size() && !parser.done() && !parser.failed()) {
    const size_t piece_end = std::min(raw.size(), pos + std::max<size_t>(1, next_piece()));
    while (pos < piece_end && !parser.done() && !parser.failed()) {
      if (parser.state() == State::kData) {
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(parser.data_remaining(), piece_end - pos));
        out.data.append(raw.substr(pos, n));
        parser.consume_data(n);
        pos += n;
      } else {
        pos += parser.parse(raw.data() + pos, piece_end - pos);
      }
    }
  }
  out.consumed = pos;
  out.done = parser.done();
  out.failed = parser.failed();
  out.body_bytes = parser.body_bytes();
  return out;
}

Decoded decode_whole(std::string_view raw) {
  return decode(raw, [&] { return raw.size(); });
}

struct ValidCase {
  std::string name;
  std::string raw;
  std::string data;
  size_t consumed;  // 0: all of raw
};

const std::vector<ValidCase>& valid_cases() {
  static const std::vector<ValidCase> cases = {
      {"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", 0},
      {"empty body", "0\r\n\r\n", "", 0},
      {"several chunks, hex both cases",
       "3\r\nabc\r\nA\r\n0123456789\r\nb\r\nABCDEFGHIJK\r\n0\r\n\r\n", "abc0123456789ABCDEFGHIJK",
       0},
      {"data holding CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0},
      {"leading zeros, 16 digits", "0000000000000003\r\nabc\r\n0\r\n\r\n", "abc", 0},
      {"extensions", "5;name=value\r\nhello\r\n2;a;b=\"q s\"\r\n!!\r\n0;last\r\n\r\n", "hello!!",
       0},
      {"whitespace before an extension", "2 ;x=1\r\nhi\r\n0\r\n\r\n", "hi", 0},
      {"trailer fields", "2\r\nhi\r\n0\r\nX-Checksum: abc\r\nY:\r\nZ: a b\t\r\n\r\n", "hi", 0},
      {"bytes after the body stay", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "x", 11},
  };
  return cases;
}

TEST_CASE("valid chunked bodies decode to their data", "[http]") {
  for (const ValidCase& c : valid_cases()) {
    INFO(c.name);
    const Decoded d = decode_whole(c.raw);
    CHECK(d.done);
    CHECK_FALSE(d.failed);
    CHECK(d.data == c.data);
    CHECK(d.body_bytes == c.data.size());
    CHECK(d.consumed == (c.consumed ? c.consumed : c.raw.size()));
  }
}

TEST_CASE("chunked parsing gives the same answer byte at a time and in random pieces", "[http]") {
  test::Rng rng(0xc4c4c4);
  for (const ValidCase& c : valid_cases()) {
    INFO(c.name);
    const Decoded whole = decode_whole(c.raw);
    const Decoded bytes = decode(c.raw, [] { return size_t{1}; });
    CHECK(bytes.data == whole.data);
    CHECK(bytes.done);
    CHECK(bytes.consumed == whole.consumed);
    CHECK(bytes.body_bytes == whole.body_bytes);
    for (int round = 0; round < 200; ++round) {
      const Decoded pieces = decode(c.raw, [&] { return 1 + rng.below(7); });
      REQUIRE(pieces.data == whole.data);
      REQUIRE(pieces.done);
      REQUIRE(pieces.consumed == whole.consumed);
      REQUIRE(pieces.body_bytes == whole.body_bytes);
    }
  }
}

TEST_CASE("parse stops on entering data and consume_data keeps the counts", "[http]") {
  ChunkedParser p;
  const std::string raw = "a;x=y\r\n0123456789\r\n0\r\n\r\n";
  size_t n = p.parse(raw.data(), raw.size());
  CHECK(n == 7);
  CHECK(p.state() == State::kData);
  CHECK(p.data_remaining() == 10);
  CHECK(p.parse(raw.data() + n, raw.size() - n) == 0);  // data is the caller's to move
  p.consume_data(4);
  CHECK(p.state() == State::kData);
  CHECK(p.data_remaining() == 6);
  CHECK(p.body_bytes() == 4);
  p.consume_data(6);
  CHECK(p.state() == State::kDataCr);
  CHECK(p.body_bytes() == 10);
  n += 10;
  CHECK(p.parse(raw.data() + n, raw.size() - n) == raw.size() - n);
  CHECK(p.done());
  CHECK(p.parse("x", 1) == 0);
  p.reset();
  CHECK(p.state() == State::kSize);
  CHECK(p.body_bytes() == 0);
}

TEST_CASE("the largest chunk size is 16 hex digits", "[http]") {
  ChunkedParser p;
  const std::string max = "FFFFFFFFFFFFFFFF\r\n";
  CHECK(p.parse(max.data(), max.size()) == max.size());
  CHECK(p.state() == State::kData);
  CHECK(p.data_remaining() == UINT64_MAX);

  ChunkedParser q;
  const std::string too_many = "10000000000000000\r\n";  // 17 digits
  CHECK(q.parse(too_many.data(), too_many.size()) == 16);
  CHECK(q.failed());
}

TEST_CASE("invalid chunked framing fails", "[http]") {
  const std::string long_ext = "5;" + std::string(5000, 'e') + "\r\nhello\r\n0\r\n\r\n";
  const std::string long_trailer = "0\r\nX: " + std::string(17000, 't') + "\r\n\r\n";
  std::string many_trailers = "0\r\n";
  for (int i = 0; i < 2000; ++i) many_trailers += "Trailer-Field: 1\r\n";
  many_trailers += "\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not hex", "g\r\n"},
      {"empty size", "\r\nhello\r\n0\r\n\r\n"},
      {"negative size", "-5\r\nhello\r\n"},
      {"0x prefix", "0x5\r\nhello\r\n"},
      {"bare LF after the size", "5\nhello\r\n0\r\n\r\n"},
      {"bare CR after the size", "5\rhello\r\n0\r\n\r\n"},
      {"data longer than the size", "5\r\nhelloX\r\n0\r\n\r\n"},
      {"bare LF after data", "5\r\nhello\n0\r\n\r\n"},
      {"17 hex digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"},
      {"NUL in an extension", "5;a\0b\r\nhello\r\n0\r\n\r\n"s},
      {"bare LF in an extension", "5;a\nb\r\nhello\r\n0\r\n\r\n"},
      {"extension longer than 4 KiB", long_ext},
      {"bare LF ends the trailers", "0\r\n\n"},
      {"bare LF in a trailer", "0\r\nX: a\n\r\n"},
      {"trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n"},
      {"trailer without colon", "0\r\nX\r\n\r\n"},
      {"trailer whitespace before colon", "0\r\nX : a\r\n\r\n"},
      {"trailer with a CTL", "0\r\nX: \x01\r\n\r\n"},
      {"trailer line over 16 KiB", long_trailer},
      {"trailers over 16 KiB", many_trailers},
  };
  test::Rng rng(7);
  for (const auto& [name, raw] : cases) {
    INFO(name);
    const Decoded whole = decode_whole(raw);
    CHECK(whole.failed);
    CHECK_FALSE(whole.done);
    const Decoded bytes = decode(raw, [] { return size_t{1}; });
    CHECK(bytes.failed);
    CHECK(bytes.consumed == whole.consumed);
    const Decoded pieces = decode(raw, [&] { return 1 + rng.below(5); });
    CHECK(pieces.failed);
    CHECK(pieces.consumed == whole.consumed);
  }
}

TEST_CASE("mutated chunked bodies never crash and do not depend on the split", "[http]") {
  test::Rng rng(0xabcdef);
  const auto& cases = valid_cases();
  int done = 0;
  int failed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string raw = cases[rng.below(cases.size())].raw;
    const size_t edits = 1 + rng.below(3);
    for (size_t e = 0; e < edits; ++e) test::mutate(raw, rng);
    const Decoded whole = decode_whole(raw);
    const Decoded pieces = decode(raw, [&] { return 1 + rng.below(4); });
    REQUIRE(pieces.done == whole.done);
    REQUIRE(pieces.failed == whole.failed);
    REQUIRE(pieces.consumed == whole.consumed);
    REQUIRE(pieces.data == whole.data);
    CHECK(whole.body_bytes == whole.data.size());
    done += whole.done;
    failed += whole.failed;
  }
  CHECK(done > 1000);
  CHECK(failed > 1000);
}

}  // namespace
}  // namespace routemeter::http
