// Micro-benchmarks of the HTTP/1.1 parser on the heads the proxy sees on every
// request: a browser-like request head (~300 bytes, 8 fields), a typical
// upstream response head, and a small chunked body. Figures go to
// docs/performance.md ("## HTTP parser").
#include <benchmark/benchmark.h>

#include <string>

#include "routemeter/http.hpp"

namespace {

using namespace routemeter::http;

const std::string kRequest =
    "GET /api/car/random?color=red&limit=10 HTTP/1.1\r\n"
    "Host: cars.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=8f14e45fceea167a\r\n"
    "X-Request-Id: 7b0f3c1e-2a9d\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Server: demo\r\n"
    "Date: Sat, 22 Nov 2025 03:20:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 64\r\n"
    "Cache-Control: no-store\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

void BM_ParseRequestHead(benchmark::State& state) {
  RequestHead head;
  const RequestLimits limits;
  for (auto _ : state) {
    ParseResult r = parse_request_head(kRequest.data(), kRequest.size(), limits, head);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(head.headers.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRequest.size()));
  state.counters["head_bytes"] = static_cast<double>(kRequest.size());
}
BENCHMARK(BM_ParseRequestHead);

// The proxy re-parses from the start after each read; this is the cost of a
// head that arrived in two reads (the first parse returns kIncomplete).
void BM_ParseRequestHeadInTwoReads(benchmark::State& state) {
  RequestHead head;
  const RequestLimits limits;
  const size_t half = kRequest.size() / 2;
  for (auto _ : state) {
    ParseResult r1 = parse_request_head(kRequest.data(), half, limits, head);
    benchmark::DoNotOptimize(r1);
    ParseResult r2 = parse_request_head(kRequest.data(), kRequest.size(), limits, head);
    benchmark::DoNotOptimize(r2);
  }
}
BENCHMARK(BM_ParseRequestHeadInTwoReads);

void BM_ParseResponseHead(benchmark::State& state) {
  ResponseHead head;
  for (auto _ : state) {
    ParseResult r = parse_response_head(kResponse.data(), kResponse.size(), 16 * 1024, head);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(head.headers.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kResponse.size()));
  state.counters["head_bytes"] = static_cast<double>(kResponse.size());
}
BENCHMARK(BM_ParseResponseHead);

// Framing of a 4-chunk body (data bytes are skipped, as the proxy moves them).
void BM_ChunkedFraming(benchmark::State& state) {
  const std::string body = "400\r\n" + std::string(1024, 'a') + "\r\n400\r\n" +
                           std::string(1024, 'b') + "\r\n400\r\n" + std::string(1024, 'c') +
                           "\r\n10;ext=1\r\n" + std::string(16, 'd') + "\r\n0\r\n\r\n";
  for (auto _ : state) {
    ChunkedParser p;
    size_t pos = 0;
    while (pos < body.size() && !p.done() && !p.failed()) {
      if (p.state() == ChunkedParser::State::kData) {
        const uint64_t n = p.data_remaining();
        p.consume_data(n);
        pos += n;
      } else {
        pos += p.parse(body.data() + pos, body.size() - pos);
      }
    }
    benchmark::DoNotOptimize(p.body_bytes());
  }
}
BENCHMARK(BM_ChunkedFraming);

}  // namespace
