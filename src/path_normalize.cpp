// normalize_path(): RFC 3986 6.2.2 syntax-based normalization of a request
// path, so that routes match on one spelling of each path and a request cannot
// leave a prefix route through "..". Decisions are in docs/routing.md.
#include <cstring>
#include <string>
#include <string_view>

#include "routemeter/router.hpp"

namespace routemeter {
namespace {

// 0-15 for a hex digit, -1 otherwise.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Copies `path` into `out`, decoding escapes of unreserved characters and
// upper-casing the hex of the others. False on a malformed escape.
bool decode_unreserved(std::string_view path, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.clear();
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= path.size()) return false;  // truncated: "%", "%4"
    const int high = hex_value(path[i + 1]);
    const int low = hex_value(path[i + 2]);
    if (high < 0 || low < 0) return false;
    const auto value = static_cast<unsigned char>(high * 16 + low);
    if (is_unreserved(value)) {
      out.push_back(static_cast<char>(value));
    } else {
      out.push_back('%');
      out.push_back(kHex[high]);
      out.push_back(kHex[low]);
    }
    i += 2;
  }
  return true;
}

// RFC 3986 5.2.4 remove_dot_segments, in place (the output never outgrows the
// input), except that a ".." above the root is an error instead of being
// dropped. `s` starts with '/'. Empty segments ("//") are kept.
bool remove_dot_segments(std::string& s) {
  const size_t n = s.size();
  size_t r = 0;  // read position, always at a '/'
  size_t w = 0;  // written length; s[0, w) is "" or starts with '/'
  while (r < n) {
    const size_t seg_begin = r + 1;
    size_t seg_end = s.find('/', seg_begin);
    if (seg_end == std::string::npos) seg_end = n;
    const size_t seg_len = seg_end - seg_begin;
    const bool last = seg_end == n;
    const bool dot = seg_len == 1 && s[seg_begin] == '.';
    const bool dot_dot = seg_len == 2 && s[seg_begin] == '.' && s[seg_begin + 1] == '.';
    if (dot_dot) {
      if (w == 0) return false;  // climbs above the root
      w = s.rfind('/', w - 1);   // drop the last written segment and its '/'
    }
    if (dot || dot_dot) {
      // "/a/." and "/a/b/.." end in a directory: keep the trailing '/'.
      if (last && (w == 0 || s[w - 1] != '/')) s[w++] = '/';
    } else {
      // w <= r: moving the segment left is a forward copy.
      s[w++] = '/';
      std::memmove(s.data() + w, s.data() + seg_begin, seg_len);
      w += seg_len;
    }
    r = seg_end;
  }
  s.resize(w);
  return true;
}

}  // namespace

bool normalize_path(std::string_view path, std::string& out, std::string_view& result) {
  if (path.empty() || path.front() != '/') return false;
  // Fast path: nothing to decode and no segment that starts with '.'.
  if (path.find('%') == std::string_view::npos && path.find("/.") == std::string_view::npos) {
    result = path;
    return true;
  }
  if (!decode_unreserved(path, out) || !remove_dot_segments(out)) return false;
  // "/.well-known/x" and "/a%2Fb" take the slow path but do not change.
  result = out == path ? path : std::string_view(out);
  return true;
}

}  // namespace routemeter
