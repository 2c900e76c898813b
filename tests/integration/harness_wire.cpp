#include "harness_wire.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace routemeter::test::wire {
namespace {

constexpr size_t kMaxHead = 1024 * 1024;
constexpr size_t kPatternPeriod = 251;
constexpr size_t kPatternPiece = 64 * 1024;

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

bool parse_header_lines(std::string_view lines, Headers& out) {
  while (!lines.empty()) {
    size_t eol = lines.find("\r\n");
    if (eol == std::string_view::npos) return false;
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol + 2);
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return false;  // includes bare CR/LF
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return false;
    out.fields.emplace_back(std::string(line.substr(0, colon)),
                            std::string(trim_ows(line.substr(colon + 1))));
  }
  return true;
}

Parse decode_chunked(std::string_view in, size_t pos, std::string& body, size_t& consumed) {
  size_t start = pos;
  // The body is decoded again from its start each time more bytes arrive:
  // record where the data of each chunk lies and copy it only once the body
  // is complete, so a large body costs one copy rather than one per read.
  std::vector<std::pair<size_t, size_t>> pieces;
  for (;;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos)
      return in.size() - pos > 4096 ? Parse::kError : Parse::kIncomplete;
    std::string_view line = in.substr(pos, eol - pos);
    line = line.substr(0, line.find(';'));  // chunk extensions are ignored
    line = trim_ows(line);
    uint64_t size = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (line.empty() || line.size() > 15 || ec != std::errc() || end != line.data() + line.size()) {
      return Parse::kError;
    }
    pos = eol + 2;
    if (size == 0) break;
    if (in.size() < pos + size + 2) return Parse::kIncomplete;
    pieces.emplace_back(pos, size);
    pos += size;
    if (in.substr(pos, 2) != "\r\n") return Parse::kError;
    pos += 2;
  }
  // Trailer section: lines until an empty one.
  for (;;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) return Parse::kIncomplete;
    bool empty = eol == pos;
    pos = eol + 2;
    if (empty) break;
  }
  for (const auto& [at, size] : pieces) body.append(in.substr(at, size));
  consumed = pos - start;
  return Parse::kComplete;
}

Parse parse_request(std::string_view in, ParsedRequest& out) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > kMaxHead) {
      out.error = "head too large";
      return Parse::kError;
    }
    return Parse::kIncomplete;
  }
  std::string_view head = in.substr(0, end + 2);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    out.error = "bad request line";
    return Parse::kError;
  }
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out.version = line.substr(sp2 + 1);
  if (!is_token(out.method) || out.target.empty() ||
      out.target.find_first_of(" \t") != std::string::npos ||
      (out.version != "HTTP/1.1" && out.version != "HTTP/1.0")) {
    out.error = "bad request line";
    return Parse::kError;
  }
  if (!parse_header_lines(head.substr(eol + 2), out.headers)) {
    out.error = "bad header line";
    return Parse::kError;
  }
  out.head_complete = true;
  size_t body_start = end + 4;
  std::vector<std::string> lengths = out.headers.get_all("Content-Length");
  std::vector<std::string> codings = out.headers.get_all("Transfer-Encoding");
  auto expect = out.headers.get("Expect");
  out.expect_continue = expect && iequals(*expect, "100-continue");
  if (!codings.empty()) {
    if (!lengths.empty() || codings.size() != 1 || !iequals(codings[0], "chunked")) {
      out.error = "bad Transfer-Encoding";
      return Parse::kError;
    }
    out.chunked = true;
    size_t consumed = 0;
    Parse p = decode_chunked(in, body_start, out.body, consumed);
    if (p != Parse::kComplete) {
      if (p == Parse::kError) out.error = "bad chunk";
      return p;
    }
    out.consumed = body_start + consumed;
    return Parse::kComplete;
  }
  uint64_t length = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    uint64_t v = 0;
    if (!parse_decimal(lengths[i], v) || (i > 0 && v != length)) {
      out.error = "bad Content-Length";
      return Parse::kError;
    }
    length = v;
  }
  if (in.size() - body_start < length) return Parse::kIncomplete;
  out.body = in.substr(body_start, length);
  out.consumed = body_start + length;
  return Parse::kComplete;
}

std::string hex(uint64_t n) {
  std::array<char, 20> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), n, 16);
  (void)ec;
  return std::string(buf.data(), end);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

bool status_has_no_body(int status) { return status < 200 || status == 204 || status == 304; }

std::string response_head(const Reply& reply, uint64_t length, bool chunked) {
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " ";
  out += reply.reason.empty() ? reason_phrase(reply.status) : std::string_view(reply.reason);
  out += "\r\n";
  for (const auto& [name, value] : reply.headers.fields) out += name + ": " + value + "\r\n";
  bool user_framing = reply.headers.has("Content-Length") || reply.headers.has("Transfer-Encoding");
  if (!user_framing && !status_has_no_body(reply.status)) {
    if (chunked) {
      out += "Transfer-Encoding: chunked\r\n";
    } else if (reply.framing != Reply::Framing::kCloseDelimited) {
      out += "Content-Length: " + std::to_string(length) + "\r\n";
    }
  }
  out += "\r\n";
  return out;
}

std::string response_bytes(const Reply& reply, bool head_request) {
  bool chunked = reply.framing == Reply::Framing::kChunked;
  std::string out = response_head(reply, reply.body.size(), chunked);
  if (head_request || status_has_no_body(reply.status)) return out;
  if (!chunked) return out + reply.body;
  size_t step = reply.chunk_size == 0 ? reply.body.size() : reply.chunk_size;
  for (size_t pos = 0; pos < reply.body.size(); pos += step) {
    size_t n = std::min(step, reply.body.size() - pos);
    out += hex(n) + "\r\n";
    out.append(reply.body, pos, n);
    out += "\r\n";
  }
  out += "0\r\n\r\n";
  return out;
}

const char* pattern_block(uint64_t offset, uint64_t want, size_t& piece) {
  static const std::array<char, kPatternPiece + kPatternPeriod> block = [] {
    std::array<char, kPatternPiece + kPatternPeriod> b{};
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>(i % kPatternPeriod);
    return b;
  }();
  piece = static_cast<size_t>(std::min<uint64_t>(want, kPatternPiece));
  return block.data() + offset % kPatternPeriod;
}

}  // namespace routemeter::test::wire
