// Upstream response heads (RFC 9112 sections 4 and 6.3). The same field-line
// rules as requests; anything the proxy cannot frame safely is a 502
// (bad_response) and the response is never relayed. docs/http.md lists the
// rules.
#include "http_internal.hpp"
#include "routemeter/http.hpp"

namespace routemeter::http {
namespace {

using detail::Step;

ParseResult bad_response(std::string_view why) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.error_status = 502;
  r.error = why;
  return r;
}

// HTTP-version SP 3DIGIT [SP reason-phrase] CRLF. A missing SP before an
// empty reason ("HTTP/1.1 200\r\n") is tolerated; nothing else is.
Step scan_status_line(const char*& p, const char* end, ResponseHead& out, std::string_view& why) {
  const char* s = p;
  int major = 0;
  int minor = 0;
  const Step v = detail::scan_version(s, end, major, minor);
  if (v != Step::kOk) {
    why = "malformed status line";
    return v;
  }
  if (s == end) return Step::kMore;
  if (*s++ != ' ') {
    why = "malformed status line";
    return Step::kError;
  }
  int status = 0;
  for (int i = 0; i < 3; ++i, ++s) {
    if (s == end) return Step::kMore;
    if (*s < '0' || *s > '9') {
      why = "malformed status code";
      return Step::kError;
    }
    status = status * 10 + (*s - '0');
  }
  if (s == end) return Step::kMore;
  const char* reason = s;
  if (*s == ' ') {
    reason = ++s;
    while (s != end && detail::is_field_char(*s)) ++s;
    if (s == end) return Step::kMore;
  }
  if (*s != '\r') {
    why = detail::describe_stray(*s, "malformed status line");
    return Step::kError;
  }
  if (s + 1 == end) return Step::kMore;
  if (s[1] != '\n') {
    why = "bare CR";
    return Step::kError;
  }
  if (major != 1) {
    why = "unsupported HTTP version";
    return Step::kError;
  }
  if (status < 100 || status > 599) {
    why = "status code out of range";
    return Step::kError;
  }
  out.status = status;
  out.reason = std::string_view(reason, static_cast<size_t>(s - reason));
  out.version_minor = minor == 0 ? 0 : 1;
  p = s + 2;
  return Step::kOk;
}

}  // namespace

ParseResult parse_response_head(const char* data, size_t len, size_t max_bytes, ResponseHead& out) {
  out.clear();
  const bool clipped = len > max_bytes;
  const char* const end = data + (clipped ? max_bytes : len);
  const ParseResult ran_out = clipped ? bad_response("response head too large") : ParseResult();

  const char* p = data;
  std::string_view why;
  switch (scan_status_line(p, end, out, why)) {
    case Step::kOk:
      break;
    case Step::kMore:
      return ran_out;
    default:
      return bad_response(why);
  }

  Framing& framing = out.framing;
  detail::CodingList codings;
  bool has_transfer_encoding = false;
  Header h;
  for (;;) {
    const Step step = detail::scan_field_line(p, end, h, why);
    if (step == Step::kEnd) break;
    if (step == Step::kMore) return ran_out;
    if (step == Step::kError) return bad_response(why);
    out.headers.push_back(h);
    switch (detail::classify_field(h.name)) {
      case detail::FieldKind::kContentLength:
        if (!detail::add_content_length(h.value, framing)) {
          return bad_response("invalid or conflicting Content-Length");
        }
        break;
      case detail::FieldKind::kTransferEncoding:
        has_transfer_encoding = true;
        codings.add(h.value);
        break;
      case detail::FieldKind::kConnection:
        detail::scan_connection(h.value, framing);
        break;
      case detail::FieldKind::kUpgrade:
        framing.upgrade = true;
        break;
      default:  // Host and Expect mean nothing in a response
        break;
    }
  }

  const bool http10 = out.version_minor == 0;
  if (has_transfer_encoding) {
    // RFC 9112 6.1/6.3 allow a client to let Transfer-Encoding override
    // Content-Length, but say such a message "ought to be handled as an
    // error"; an intermediary relaying it is how responses get split.
    if (http10) return bad_response("Transfer-Encoding in an HTTP/1.0 response");
    if (framing.has_content_length) {
      return bad_response("both Content-Length and Transfer-Encoding");
    }
    if (codings.malformed || codings.codings == 0) return bad_response("invalid Transfer-Encoding");
    if (codings.chunked > 1) return bad_response("chunked applied more than once");
    // chunked last: chunked body. Otherwise the body runs to the close of the
    // connection (RFC 9112 6.3 item 4): no Content-Length, not chunked.
    framing.chunked = codings.last_chunked;
  }
  if (http10 && !framing.connection_keep_alive) framing.connection_close = true;

  ParseResult r;
  r.status = ParseStatus::kComplete;
  r.head_bytes = static_cast<size_t>(p - data);
  return r;
}

bool response_has_no_body(Method request_method, int status) {
  if (request_method == Method::kHead) return true;
  if (status >= 100 && status < 200) return true;
  if (status == 204 || status == 304) return true;
  return request_method == Method::kConnect && status >= 200 && status < 300;
}

}  // namespace routemeter::http
