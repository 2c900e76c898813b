// HTTP/1.1 message framing for an intermediary (RFC 9110, RFC 9112): a strict,
// incremental parser for request heads, response heads and chunked bodies.
// Pure functions over bytes; no sockets, no allocation beyond the caller's
// reusable header vector. Views returned point into the caller's buffer.
// The free functions are stateless (any thread); a ChunkedParser belongs to
// one message on one thread. What is rejected with which status, and why:
// docs/http.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace routemeter::http {

enum class Method : uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kConnect,
  kOptions,
  kTrace,
  kPatch,
  kOther
};
std::string_view method_name(Method m);  // "GET" ... "OTHER"
Method parse_method(std::string_view token);

struct Header {
  std::string_view name;   // as sent
  std::string_view value;  // leading/trailing OWS removed
};

// What a head says about the body and the connection, computed while parsing.
struct Framing {
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool chunked = false;                // Transfer-Encoding ends in chunked
  bool connection_close = false;       // "Connection: close" (or 1.0 without keep-alive)
  bool connection_keep_alive = false;  // "Connection: keep-alive" present
  bool expect_continue = false;        // "Expect: 100-continue" (requests)
  bool upgrade = false;                // an Upgrade header is present
};

struct RequestHead {
  Method method = Method::kOther;
  std::string_view method_token;  // as sent
  std::string_view target;        // request-target as sent
  std::string_view path;          // target up to '?' ("*" for OPTIONS *; for absolute-form
                                  // the target's path, or a static "/" if it has none)
  std::string_view query;         // after '?' (without it); empty if none
  int version_minor = 1;          // HTTP/1.0 -> 0, HTTP/1.1 -> 1
  std::string_view host;          // Host header value (empty if absent); for absolute-form
                                  // targets the target's authority, which replaces it
  bool has_host = false;
  Framing framing;
  std::vector<Header> headers;  // in order, all of them (the caller filters hop-by-hop)
  void clear();
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  Framing framing;
  std::vector<Header> headers;
  void clear();
};

// Outcome of a parse attempt over the bytes received so far.
enum class ParseStatus { kComplete, kIncomplete, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t head_bytes = 0;   // kComplete: bytes of the head including the final CRLF CRLF
  int error_status = 0;    // kError: the answer to give (400, 414, 417, 431, 501, 505;
                           // always 502 for responses)
  std::string_view error;  // kError: a short reason for logs
};

struct RequestLimits {
  size_t max_header_bytes = 16 * 1024;  // whole head; larger -> 431
  size_t max_request_line = 8 * 1024;   // request line; longer -> 414
};

// Parses a request head from the start of [data, data+len). Call again with
// more bytes after kIncomplete (it restarts from the beginning; heads are small).
// Rejects (never forwards): bare LF, NUL or other CTLs in the head, whitespace
// before a colon, obs-fold, Content-Length with Transfer-Encoding, differing or
// non-numeric Content-Lengths, a Transfer-Encoding that does not end in a single
// final "chunked" (501 if it also lists another coding), Transfer-Encoding in
// HTTP/1.0, missing or repeated Host on HTTP/1.1, major versions other than 1
// (505; HTTP/1.2+ is handled as 1.1, RFC 9110 2.5), CONNECT (501), Expect other
// than 100-continue (417), a request-target not in origin-form (absolute-form
// is accepted and reduced to its path; "*" only with OPTIONS), oversize
// (414/431, decided as soon as the limit is passed, even while incomplete).
// Leading empty lines are skipped and counted in head_bytes. docs/http.md.
ParseResult parse_request_head(const char* data, size_t len, const RequestLimits& limits,
                               RequestHead& out);

// Parses an upstream response head. Errors are reported as 502 (bad_response).
// `max_bytes` bounds the head. 1xx heads parse as complete heads too.
// Framing: chunked if Transfer-Encoding ends in chunked; a Transfer-Encoding
// that does not (e.g. "gzip") means the body runs to the connection close, as
// does a response with neither chunked nor Content-Length, unless
// response_has_no_body(). Content-Length with Transfer-Encoding is a 502.
ParseResult parse_response_head(const char* data, size_t len, size_t max_bytes, ResponseHead& out);

// Whether a response to `request_method` with `status` has no body at all.
bool response_has_no_body(Method request_method, int status);

// Incremental chunked-body parser (RFC 9112 section 7.1). It never copies data
// bytes: in kData the caller moves data_remaining() bytes (or fewer) itself and
// reports them with consume_data(); framing bytes go through parse(). Chunk
// sizes up to 16 hex digits; extensions are checked for CTLs and bounded to a
// 4 KiB size line; trailer fields are validated like header fields and bounded
// to 16 KiB in all (whether their bytes are relayed is the caller's choice).
// Any split of the input gives the same result.
// One parser per message, owned and used by one connection's thread.
class ChunkedParser {
 public:
  enum class State : uint8_t {
    kSize,
    kExt,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailer,
    kTrailerLf,
    kDone,
    kError
  };
  // Consumes framing bytes from [p, p+len); stops early on entering kData,
  // kDone or kError. Returns bytes consumed.
  size_t parse(const char* p, size_t len);
  uint64_t data_remaining() const { return remaining_; }
  // Reports `n` data bytes moved by the caller (clamped to data_remaining()).
  void consume_data(uint64_t n) {
    if (n > remaining_) n = remaining_;
    remaining_ -= n;
    body_bytes_ += n;
    if (remaining_ == 0 && state_ == State::kData) state_ = State::kDataCr;
  }
  State state() const { return state_; }
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  uint64_t body_bytes() const { return body_bytes_; }  // data bytes seen so far
  void reset() { *this = ChunkedParser(); }

 private:
  State state_ = State::kSize;
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  uint32_t size_digits_ = 0;
  uint32_t line_bytes_ = 0;  // bounds extension and trailer line lengths
  uint32_t trailer_bytes_ = 0;
  uint8_t trailer_phase_ = 0;  // within a trailer line: 0 name, 1 value
};

// Case-insensitive ASCII comparison for header names and tokens.
bool iequals(std::string_view a, std::string_view b);

// Whether `name` is a hop-by-hop header an intermediary must not forward:
// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade.
bool is_hop_by_hop(std::string_view name);
// Whether `name` is listed in a Connection header value (comma-separated tokens).
bool connection_lists(std::string_view connection_value, std::string_view name);

// The hop-by-hop fields of one message: the fixed set plus every field its
// Connection headers name. Holds views into the message's headers.
class HopByHop {
 public:
  explicit HopByHop(const std::vector<Header>& headers);
  bool contains(std::string_view name) const;

 private:
  static constexpr size_t kMaxConnectionHeaders = 8;
  std::string_view connection_[kMaxConnectionHeaders];
  size_t count_ = 0;
};

}  // namespace routemeter::http
