// Request heads (RFC 9112 sections 3 and 5, RFC 9110 for the fields that
// decide framing). One pass over the bytes: each byte is classified once by
// a table lookup while the line structure is checked; the framing fields are
// interpreted as they are found, and the rules that need the whole head
// (Host present, Content-Length with Transfer-Encoding...) run at the final
// empty line. What is rejected with which status is listed in docs/http.md.
#include <algorithm>

#include "http_internal.hpp"
#include "routemeter/http.hpp"

namespace routemeter::http {
namespace {

using detail::Step;

constexpr std::string_view kRootPath = "/";

ParseResult fail(int status, std::string_view why) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.error_status = status;
  r.error = why;
  return r;
}

struct LineError {
  int status = 400;
  std::string_view why;
};

// method SP request-target SP HTTP-version CRLF, single SPs only.
Step scan_request_line(const char*& p, const char* end, RequestHead& out, LineError& e) {
  const char* s = p;
  const char* const method = s;
  while (s != end && detail::is_tchar(*s)) ++s;
  if (s == end) return Step::kMore;
  if (*s != ' ' || s == method) {
    e.why = (*s == ' ') ? "empty method" : detail::describe_stray(*s, "invalid method");
    return Step::kError;
  }
  out.method_token = std::string_view(method, static_cast<size_t>(s - method));
  const char* const target = ++s;
  s = detail::skip_target_chars(s, end);
  if (s == end) return Step::kMore;
  if (*s != ' ' || s == target) {
    if (s == target) {
      e.why = "empty request-target";
    } else if (*s == '#') {
      e.why = "fragment in request-target";
    } else if (*s == '\r') {
      e.why = "missing HTTP version";
    } else {
      e.why = detail::describe_stray(*s, "invalid character in request-target");
    }
    return Step::kError;
  }
  out.target = std::string_view(target, static_cast<size_t>(s - target));
  ++s;
  int major = 0;
  int minor = 0;
  const Step v = detail::scan_version(s, end, major, minor);
  if (v == Step::kMore) return Step::kMore;
  if (v == Step::kError) {
    e.why = "malformed HTTP version";
    return Step::kError;
  }
  if (s == end) return Step::kMore;
  if (*s != '\r') {
    e.why = (*s == '\n') ? "bare LF" : "malformed HTTP version";
    return Step::kError;
  }
  if (s + 1 == end) return Step::kMore;
  if (s[1] != '\n') {
    e.why = "bare CR";
    return Step::kError;
  }
  if (major != 1) {
    e = {505, "unsupported HTTP version"};
    return Step::kError;
  }
  // A higher 1.x minor is processed as 1.1 (RFC 9110 2.5).
  out.version_minor = minor == 0 ? 0 : 1;
  p = s + 2;
  return Step::kOk;
}

// Splits the request-target into path and query (and host for absolute-form).
bool split_target(RequestHead& out, bool& absolute, LineError& e) {
  out.method = parse_method(out.method_token);
  if (out.method == Method::kConnect) {
    e = {501, "CONNECT is not supported"};
    return false;
  }
  std::string_view t = out.target;
  if (t[0] == '*' && t.size() == 1) {
    if (out.method != Method::kOptions) {
      e.why = "asterisk-form request-target without OPTIONS";
      return false;
    }
    out.path = t;
    return true;
  }
  if (t[0] != '/') {
    // absolute-form: http[s]://authority[/path][?query]
    const size_t colon = t.find("://");
    const std::string_view scheme = t.substr(0, colon);
    if (colon == std::string_view::npos || !(iequals(scheme, "http") || iequals(scheme, "https"))) {
      e.why = "request-target is not origin-form or absolute-form";
      return false;
    }
    t.remove_prefix(colon + 3);
    const size_t auth_end = std::min(t.find('/'), t.find('?'));
    const std::string_view authority = t.substr(0, auth_end);
    if (authority.empty() || authority.find('@') != std::string_view::npos ||
        !detail::valid_host(authority)) {
      e.why = "invalid authority in request-target";
      return false;
    }
    out.host = authority;
    absolute = true;
    t.remove_prefix(authority.size());
  }
  const size_t q = t.find('?');
  out.path = t.substr(0, q);
  if (out.path.empty()) out.path = kRootPath;  // "http://host?x" has the path "/"
  if (q != std::string_view::npos) out.query = t.substr(q + 1);
  return true;
}

}  // namespace

ParseResult parse_request_head(const char* data, size_t len, const RequestLimits& limits,
                               RequestHead& out) {
  out.clear();
  const bool clipped = len > limits.max_header_bytes;
  const char* const end = data + (clipped ? limits.max_header_bytes : len);
  // Out of bytes before the end of the head: wait for more, unless the head
  // already holds more than the limit allows.
  const ParseResult ran_out = clipped ? fail(431, "request head too large") : ParseResult();

  const char* p = data;
  // RFC 9112 2.2: empty lines before the request-line are ignored. They count
  // against max_header_bytes, so a stream of CRLFs cannot go on forever.
  while (p != end && *p == '\r') {
    if (p + 1 == end) return ran_out;
    if (p[1] != '\n') return fail(400, "bare CR");
    p += 2;
  }

  // The request line is bounded on its own: max_request_line plus the CRLF.
  const auto room = static_cast<size_t>(end - p);
  const bool line_capped = room > limits.max_request_line && room - limits.max_request_line >= 2;
  const char* const line_end = line_capped ? p + limits.max_request_line + 2 : end;
  LineError line_error;
  switch (scan_request_line(p, line_end, out, line_error)) {
    case Step::kOk:
      break;
    case Step::kMore:
      return line_capped ? fail(414, "request line too long") : ran_out;
    default:
      return fail(line_error.status, line_error.why);
  }
  bool absolute = false;
  if (!split_target(out, absolute, line_error)) return fail(line_error.status, line_error.why);

  Framing& framing = out.framing;
  detail::CodingList codings;
  bool has_transfer_encoding = false;
  detail::Expectation expect = detail::Expectation::kNone;
  Header h;
  std::string_view why;
  for (;;) {
    const Step step = detail::scan_field_line(p, end, h, why);
    if (step == Step::kEnd) break;
    if (step == Step::kMore) return ran_out;
    if (step == Step::kError) return fail(400, why);
    out.headers.push_back(h);
    switch (detail::classify_field(h.name)) {
      case detail::FieldKind::kOther:
        break;
      case detail::FieldKind::kHost:
        if (out.has_host) return fail(400, "more than one Host");
        if (!detail::valid_host(h.value)) return fail(400, "invalid Host");
        out.has_host = true;
        if (!absolute) out.host = h.value;  // absolute-form: the target's authority wins
        break;
      case detail::FieldKind::kContentLength:
        if (!detail::add_content_length(h.value, framing)) {
          return fail(400, "invalid or conflicting Content-Length");
        }
        break;
      case detail::FieldKind::kTransferEncoding:
        has_transfer_encoding = true;
        codings.add(h.value);
        break;
      case detail::FieldKind::kConnection:
        detail::scan_connection(h.value, framing);
        break;
      case detail::FieldKind::kExpect: {
        const detail::Expectation e = detail::classify_expect(h.value);
        if (e == detail::Expectation::kOther || expect == detail::Expectation::kNone) expect = e;
        break;
      }
      case detail::FieldKind::kUpgrade:
        framing.upgrade = true;
        break;
    }
  }

  const bool http10 = out.version_minor == 0;
  if (!http10 && !out.has_host) return fail(400, "missing Host");
  if (has_transfer_encoding) {
    // RFC 9112 6.1 and 6.3: these framings cannot be trusted, the request is
    // never forwarded.
    if (http10) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (framing.has_content_length) return fail(400, "both Content-Length and Transfer-Encoding");
    if (codings.malformed || codings.codings == 0) return fail(400, "invalid Transfer-Encoding");
    if (!codings.last_chunked || codings.chunked > 1) {
      return fail(400, "chunked is not the final transfer coding, once");
    }
    if (codings.unknown) return fail(501, "unsupported transfer coding");
    framing.chunked = true;
  }
  // HTTP/1.0 ignores Expect (RFC 9110 10.1.1); 1.1 only knows 100-continue.
  if (!http10) {
    if (expect == detail::Expectation::kOther) return fail(417, "unsupported expectation");
    framing.expect_continue = expect == detail::Expectation::kContinue;
  }
  if (http10 && !framing.connection_keep_alive) framing.connection_close = true;

  ParseResult r;
  r.status = ParseStatus::kComplete;
  r.head_bytes = static_cast<size_t>(p - data);
  return r;
}

}  // namespace routemeter::http
