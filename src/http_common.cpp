// HTTP helpers shared by the request, response and chunked parsers: method
// names, case-insensitive comparison, hop-by-hop fields and the field-value
// grammars that decide framing (Content-Length, Transfer-Encoding,
// Connection, Host). See docs/http.md for what is rejected and why.
#include <cstring>

#include "http_internal.hpp"
#include "routemeter/http.hpp"

namespace routemeter::http {
namespace {

constexpr std::array<unsigned char, 256> make_lower_table() {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<size_t>(c)] =
        static_cast<unsigned char>((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
  }
  return t;
}
constexpr std::array<unsigned char, 256> kLower = make_lower_table();

// Compares a token against a lowercase literal of letters and '-'. OR-ing 0x20
// folds exactly A-Z onto a-z for the bytes that can match one of those: the
// only other bytes that fold onto a letter or '-' are CTLs, which the scanner
// has already rejected in names and values.
bool token_is(std::string_view token, std::string_view lower_literal) {
  if (token.size() != lower_literal.size()) return false;
  for (size_t i = 0; i < token.size(); ++i) {
    if ((static_cast<unsigned char>(token[i]) | 0x20) !=
        static_cast<unsigned char>(lower_literal[i])) {
      return false;
    }
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && detail::is_ows(s[b])) ++b;
  while (e > b && detail::is_ows(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Calls `fn(member)` for each comma-separated list member, OWS trimmed,
// including empty ones. Stops early (returning false) when fn returns false.
template <typename Fn>
bool for_each_member(std::string_view value, Fn&& fn) {
  for (;;) {
    const size_t comma = value.find(',');
    if (!fn(trim_ows(value.substr(0, comma)))) return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

bool all_tchars(std::string_view s) {
  for (char c : s) {
    if (!detail::is_tchar(c)) return false;
  }
  return !s.empty();
}

}  // namespace

std::string_view method_name(Method m) {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kHead:
      return "HEAD";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kDelete:
      return "DELETE";
    case Method::kConnect:
      return "CONNECT";
    case Method::kOptions:
      return "OPTIONS";
    case Method::kTrace:
      return "TRACE";
    case Method::kPatch:
      return "PATCH";
    case Method::kOther:
      break;
  }
  return "OTHER";
}

Method parse_method(std::string_view t) {
  // Methods are case-sensitive (RFC 9110 9.1): "get" is not GET.
  switch (t.size()) {
    case 3:
      if (t == "GET") return Method::kGet;
      if (t == "PUT") return Method::kPut;
      break;
    case 4:
      if (t == "POST") return Method::kPost;
      if (t == "HEAD") return Method::kHead;
      break;
    case 5:
      if (t == "PATCH") return Method::kPatch;
      if (t == "TRACE") return Method::kTrace;
      break;
    case 6:
      if (t == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (t == "OPTIONS") return Method::kOptions;
      if (t == "CONNECT") return Method::kConnect;
      break;
    default:
      break;
  }
  return Method::kOther;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (kLower[static_cast<unsigned char>(a[i])] != kLower[static_cast<unsigned char>(b[i])]) {
      return false;
    }
  }
  return true;
}

bool is_hop_by_hop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "upgrade") || iequals(name, "trailer");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16:
      return iequals(name, "proxy-connection");
    case 17:
      return iequals(name, "transfer-encoding");
    default:
      return false;
  }
}

bool connection_lists(std::string_view connection_value, std::string_view name) {
  bool found = false;
  for_each_member(connection_value, [&](std::string_view member) {
    found = iequals(member, name);
    return !found;
  });
  return found;
}

void RequestHead::clear() {
  method = Method::kOther;
  method_token = {};
  target = {};
  path = {};
  query = {};
  version_minor = 1;
  host = {};
  has_host = false;
  framing = Framing();
  headers.clear();  // keeps the capacity: no allocation on the next request
}

void ResponseHead::clear() {
  status = 0;
  reason = {};
  version_minor = 1;
  framing = Framing();
  headers.clear();
}

namespace detail {

FieldKind classify_field(std::string_view name) {
  switch (name.size()) {
    case 4:
      return token_is(name, "host") ? FieldKind::kHost : FieldKind::kOther;
    case 6:
      return token_is(name, "expect") ? FieldKind::kExpect : FieldKind::kOther;
    case 7:
      return token_is(name, "upgrade") ? FieldKind::kUpgrade : FieldKind::kOther;
    case 10:
      return token_is(name, "connection") ? FieldKind::kConnection : FieldKind::kOther;
    case 14:
      return token_is(name, "content-length") ? FieldKind::kContentLength : FieldKind::kOther;
    case 17:
      return token_is(name, "transfer-encoding") ? FieldKind::kTransferEncoding : FieldKind::kOther;
    default:
      return FieldKind::kOther;
  }
}

bool parse_content_length(std::string_view value, uint64_t& out) {
  bool first = true;
  uint64_t result = 0;
  return for_each_member(value, [&](std::string_view member) {
    if (member.empty()) return false;
    uint64_t n = 0;
    for (char c : member) {
      if (c < '0' || c > '9') return false;
      const auto d = static_cast<uint64_t>(c - '0');
      if (n > (UINT64_MAX - d) / 10) return false;  // would overflow
      n = n * 10 + d;
    }
    if (!first && n != result) return false;
    first = false;
    result = n;
    out = n;
    return true;
  });
}

void CodingList::add(std::string_view value) {
  for_each_member(value, [&](std::string_view member) {
    if (member.empty()) return true;  // empty list members are ignored (RFC 9110 5.6.1)
    ++codings;
    const size_t semi = member.find(';');
    const std::string_view name = trim_ows(member.substr(0, semi));
    if (!all_tchars(name)) {
      malformed = true;
    } else if (token_is(name, "chunked")) {
      if (semi != std::string_view::npos) malformed = true;  // chunked takes no parameters
      ++chunked;
      last_chunked = true;
      return true;
    } else {
      unknown = true;
    }
    last_chunked = false;
    return true;
  });
}

Expectation classify_expect(std::string_view value) {
  Expectation result = Expectation::kNone;
  for_each_member(value, [&](std::string_view member) {
    if (member.empty()) return true;
    if (!iequals(member, "100-continue")) {
      result = Expectation::kOther;
      return false;
    }
    result = Expectation::kContinue;
    return true;
  });
  return result;
}

void scan_connection(std::string_view value, Framing& framing) {
  for_each_member(value, [&](std::string_view member) {
    if (token_is(member, "close")) {
      framing.connection_close = true;
    } else if (token_is(member, "keep-alive")) {
      framing.connection_keep_alive = true;
    }
    return true;
  });
}

bool valid_host(std::string_view v) {
  size_t i = 0;
  if (!v.empty() && v[0] == '[') {
    // IP-literal: "[" hex, ':', '.' or "v..." "]"; kept simple but never lets
    // a delimiter through.
    const size_t close = v.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (size_t k = 1; k < close; ++k) {
      const char c = v[k];
      const bool hex = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
      if (!(hex || c == ':' || c == '.' || c == 'v' || c == 'V')) {
        return false;
      }
    }
    i = close + 1;
  } else {
    for (; i < v.size() && v[i] != ':'; ++i) {
      if (!has_class(v[i], kHostChar) || v[i] == '[' || v[i] == ']') return false;
    }
  }
  if (i == v.size()) return true;
  if (v[i] != ':' || i == 0) return false;  // after "]" only a port; no port without a host
  for (++i; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
  }
  return true;
}

}  // namespace detail
HopByHop::HopByHop(const std::vector<Header>& headers) {
  for (const Header& h : headers) {
    if (count_ < kMaxConnectionHeaders && iequals(h.name, "connection")) {
      connection_[count_++] = h.value;
    }
  }
}

bool HopByHop::contains(std::string_view name) const {
  if (is_hop_by_hop(name)) return true;
  for (size_t i = 0; i < count_; ++i) {
    if (connection_lists(connection_[i], name)) return true;
  }
  return false;
}

}  // namespace routemeter::http
