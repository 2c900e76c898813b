// Byte-level HTTP/1.1 pieces shared by the harness's backend and client: a
// small strict request parser (independent of the proxy's own), response
// serialisation, chunk decoding and the streaming pattern. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "harness.hpp"

namespace routemeter::test::wire {

enum class Parse { kComplete, kIncomplete, kError };

struct ParsedRequest {
  std::string method;
  std::string target;
  std::string version;
  Headers headers;
  std::string body;
  bool chunked = false;
  bool head_complete = false;    // the head parsed, whatever the body
  bool expect_continue = false;  // known once the head is complete
  size_t consumed = 0;           // head + framed body bytes
  std::string error;
};

// Parses one whole request (head and body) from the start of `in`.
Parse parse_request(std::string_view in, ParsedRequest& out);

// Parses header lines "name: value\r\n" ... up to (not including) the empty
// line, into `out`. False on malformed lines (bare LF, CTLs, space before colon).
bool parse_header_lines(std::string_view lines, Headers& out);

// Decodes a chunked body starting at `pos`. kComplete sets `consumed` (bytes
// from pos through the final CRLF) and appends the data to `body`.
Parse decode_chunked(std::string_view in, size_t pos, std::string& body, size_t& consumed);

std::string hex(uint64_t n);
std::string_view reason_phrase(int status);
bool status_has_no_body(int status);  // 1xx, 204, 304

// Status line, the reply's headers, and the automatic framing header for a
// body of `length` bytes unless the reply's headers set framing themselves.
std::string response_head(const Reply& reply, uint64_t length, bool chunked);
// A whole kResponse reply; `head_request`: head only (framing of the full body).
std::string response_bytes(const Reply& reply, bool head_request);

// Up to `want` (at most 64 KiB) contiguous pattern bytes starting at `offset`,
// pointing into a static block; `piece` gets their count.
const char* pattern_block(uint64_t offset, uint64_t want, size_t& piece);

}  // namespace routemeter::test::wire
