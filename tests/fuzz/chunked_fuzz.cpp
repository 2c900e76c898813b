// libFuzzer target: ChunkedParser (src/http_chunked.cpp). Built with
// ROUTEMETER_FUZZ=ON (tests/fuzz/CMakeLists.txt), run by scripts/fuzz.sh.
//
// The parser promises that any split of the input gives the same result: the
// input is fed whole, byte at a time, and in uneven pieces (sizes taken from
// the input itself), and all three must agree on the bytes consumed, the body
// bytes and the final state. Sanitizer reports and crashes are findings too.
#include <algorithm>
#include <cstdint>

#include "fuzz_support.hpp"
#include "routemeter/http.hpp"

namespace {

using routemeter::http::ChunkedParser;

struct Outcome {
  size_t consumed = 0;
  uint64_t body = 0;
  ChunkedParser::State state = ChunkedParser::State::kSize;
  bool operator==(const Outcome&) const = default;
};

// Feeds [data, data+size) in pieces of piece(i) bytes (i = 0, 1, ...), moving
// data bytes itself as a connection would.
template <typename PieceSize>
Outcome run(const char* data, size_t size, PieceSize piece) {
  ChunkedParser p;
  size_t pos = 0;
  for (size_t i = 0; pos < size && !p.done() && !p.failed(); ++i) {
    const size_t avail = std::min(std::max<size_t>(piece(i), 1), size - pos);
    if (p.state() == ChunkedParser::State::kData) {
      const uint64_t n = std::min<uint64_t>(p.data_remaining(), avail);
      p.consume_data(n);
      pos += n;
    } else {
      const size_t used = p.parse(data + pos, avail);
      FUZZ_REQUIRE(used <= avail);
      pos += used;
    }
  }
  FUZZ_REQUIRE(p.body_bytes() <= pos);
  return {pos, p.body_bytes(), p.state()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const auto* data = reinterpret_cast<const char*>(bytes);
  const Outcome whole = run(data, size, [size](size_t) { return size; });
  const Outcome one = run(data, size, [](size_t) { return size_t{1}; });
  const Outcome uneven = run(data, size, [&](size_t i) { return size_t{1} + bytes[i % size] % 7; });
  FUZZ_REQUIRE(whole == one);
  FUZZ_REQUIRE(whole == uneven);
  // Stopping short of the input happens only at the end of the message or on an error.
  FUZZ_REQUIRE(whole.consumed == size || whole.state == ChunkedParser::State::kDone ||
               whole.state == ChunkedParser::State::kError);
  return 0;
}
