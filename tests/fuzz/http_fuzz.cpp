// libFuzzer target for the HTTP/1.1 parser. Not part of the CMake build; to
// run it by hand (clang, from the repository root):
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//       src/http_common.cpp src/http_request.cpp src/http_response.cpp \
//       src/http_chunked.cpp tests/fuzz/http_fuzz.cpp -o /tmp/http_fuzz
//   /tmp/http_fuzz -max_total_time=300 -max_len=4096
//
// Besides crashes, it aborts on answers that depend on how the bytes were
// split: a complete head must re-parse identically from exactly its bytes,
// every shorter prefix of it must be incomplete, and the chunked parser must
// give the same result whole and byte at a time.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "routemeter/http.hpp"

namespace {

using namespace routemeter::http;

void require(bool ok) {
  if (!ok) std::abort();
}

void fuzz_request(const char* data, size_t size) {
  RequestLimits limits;
  limits.max_request_line = 512;
  limits.max_header_bytes = 2048;
  RequestHead head;
  const ParseResult r = parse_request_head(data, size, limits, head);
  if (r.status == ParseStatus::kError) {
    const int s = r.error_status;
    require(s == 400 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505);
    return;
  }
  if (r.status != ParseStatus::kComplete) return;
  require(r.head_bytes <= size && r.head_bytes <= limits.max_header_bytes);
  require(!(head.framing.chunked && head.framing.has_content_length));
  RequestHead again;
  const ParseResult r2 = parse_request_head(data, r.head_bytes, limits, again);
  require(r2.status == ParseStatus::kComplete && r2.head_bytes == r.head_bytes);
  require(again.path == head.path && again.host == head.host &&
          again.headers.size() == head.headers.size() &&
          again.framing.content_length == head.framing.content_length);
  for (size_t len = 0; len < r.head_bytes; ++len) {
    require(parse_request_head(data, len, limits, again).status == ParseStatus::kIncomplete);
  }
}

void fuzz_response(const char* data, size_t size) {
  ResponseHead head;
  const ParseResult r = parse_response_head(data, size, 2048, head);
  if (r.status == ParseStatus::kError) require(r.error_status == 502);
  if (r.status != ParseStatus::kComplete) return;
  require(head.status >= 100 && head.status <= 599);
  ResponseHead again;
  for (size_t len = 0; len < r.head_bytes; ++len) {
    require(parse_response_head(data, len, 2048, again).status == ParseStatus::kIncomplete);
  }
}

struct Outcome {
  size_t consumed = 0;
  uint64_t body = 0;
  ChunkedParser::State state = ChunkedParser::State::kSize;
};

Outcome run_chunked(const char* data, size_t size, size_t piece) {
  ChunkedParser p;
  size_t pos = 0;
  while (pos < size && !p.done() && !p.failed()) {
    const size_t avail = std::min(piece, size - pos);
    if (p.state() == ChunkedParser::State::kData) {
      const uint64_t n = std::min<uint64_t>(p.data_remaining(), avail);
      p.consume_data(n);
      pos += n;
    } else {
      pos += p.parse(data + pos, avail);
    }
  }
  return {pos, p.body_bytes(), p.state()};
}

void fuzz_chunked(const char* data, size_t size) {
  const Outcome whole = run_chunked(data, size, size);
  const Outcome bytes = run_chunked(data, size, 1);
  require(whole.consumed == bytes.consumed && whole.body == bytes.body &&
          whole.state == bytes.state);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const auto* data = reinterpret_cast<const char*>(bytes);
  fuzz_request(data, size);
  fuzz_response(data, size);
  fuzz_chunked(data, size);
  return 0;
}
