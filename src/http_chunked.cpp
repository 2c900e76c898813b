// The chunked transfer coding (RFC 9112 section 7.1) as a byte-at-a-time
// state machine, so that any split of the input gives the same result. Only
// framing bytes pass through parse(); data bytes are moved by the caller and
// reported with consume_data(). Every line is bounded: a peer cannot make us
// scan an endless chunk extension or trailer section.
#include "http_internal.hpp"
#include "routemeter/http.hpp"

namespace routemeter::http {
namespace {

constexpr uint32_t kMaxSizeDigits = 16;           // 16 hex digits fill a uint64_t
constexpr uint32_t kMaxSizeLine = 4 * 1024;       // chunk-size + chunk-ext
constexpr uint32_t kMaxTrailerBytes = 16 * 1024;  // the whole trailer section

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  const char lower = static_cast<char>(c | 0x20);
  if (lower >= 'a' && lower <= 'f') return lower - 'a' + 10;
  return -1;
}

}  // namespace

size_t ChunkedParser::parse(const char* p, size_t len) {
  size_t i = 0;
  for (; i < len; ++i) {
    const char c = p[i];
    switch (state_) {
      case State::kSize: {
        if (++line_bytes_ > kMaxSizeLine) {
          state_ = State::kError;
          return i;
        }
        const int d = hex_value(c);
        if (d >= 0) {
          if (size_digits_ == kMaxSizeDigits) {
            state_ = State::kError;  // would overflow 64 bits
            return i;
          }
          ++size_digits_;
          remaining_ = (remaining_ << 4) | static_cast<uint64_t>(d);
        } else if (size_digits_ != 0 && c == '\r') {
          state_ = State::kSizeLf;
        } else if (size_digits_ != 0 && (c == ';' || detail::is_ows(c))) {
          state_ = State::kExt;  // BWS ";" name [= value]: tolerated, not interpreted
        } else {
          state_ = State::kError;  // chunk-size is 1*HEXDIG, then CR, BWS or ';'
          return i;
        }
        break;
      }
      case State::kExt:
        if (++line_bytes_ > kMaxSizeLine || (c != '\r' && !detail::is_field_char(c))) {
          state_ = State::kError;  // too long, or a CTL / bare LF in the extension
          return i;
        }
        if (c == '\r') state_ = State::kSizeLf;
        break;
      case State::kSizeLf:
        if (c != '\n') {
          state_ = State::kError;
          return i;
        }
        if (remaining_ == 0) {  // last-chunk: the trailer section follows
          state_ = State::kTrailer;
          line_bytes_ = 0;
          trailer_phase_ = 0;
          break;
        }
        state_ = State::kData;
        return i + 1;  // the caller moves the data bytes
      case State::kData:
      case State::kDone:
      case State::kError:
        return i;
      case State::kDataCr:
        if (c != '\r') {
          state_ = State::kError;
          return i;
        }
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') {
          state_ = State::kError;
          return i;
        }
        state_ = State::kSize;
        remaining_ = 0;
        size_digits_ = 0;
        line_bytes_ = 0;
        break;
      case State::kTrailer:
        // Trailer fields follow the field-line rules of a head (RFC 9112 7.1.2).
        if (++trailer_bytes_ > kMaxTrailerBytes) {
          state_ = State::kError;
          return i;
        }
        if (line_bytes_ == 0) {
          if (c == '\r') {
            state_ = State::kTrailerLf;  // the empty line that ends the message
            break;
          }
          if (!detail::is_tchar(c)) {  // includes obs-fold and bare LF
            state_ = State::kError;
            return i;
          }
        } else if (trailer_phase_ == 0) {
          if (c == ':') {
            trailer_phase_ = 1;
          } else if (!detail::is_tchar(c)) {
            state_ = State::kError;
            return i;
          }
        } else if (c == '\r') {
          state_ = State::kTrailerLf;
          break;
        } else if (!detail::is_field_char(c)) {
          state_ = State::kError;
          return i;
        }
        ++line_bytes_;
        break;
      case State::kTrailerLf:
        if (c != '\n' || ++trailer_bytes_ > kMaxTrailerBytes) {
          state_ = State::kError;
          return i;
        }
        if (line_bytes_ == 0) {
          state_ = State::kDone;
          return i + 1;
        }
        state_ = State::kTrailer;
        line_bytes_ = 0;
        trailer_phase_ = 0;
        break;
    }
  }
  return i;
}

}  // namespace routemeter::http
