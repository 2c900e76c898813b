// Router: compiles the [[route]] rules once and classifies requests against
// them in file order. The matching rules and their edge cases are documented
// in docs/routing.md; this file keeps the per-request work to plain
// comparisons (no allocation for exact and prefix rules).
#include "routemeter/router.hpp"

#include <optional>

// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s <regex>
// when built with sanitizers (GCC bug 105562); the code is libstdc++'s.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

#include "routemeter/http.hpp"

namespace routemeter {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// The host name of a Host header value or of a route's host rule: without
// ":port", without the brackets of an IPv6 literal, without a trailing dot.
std::string_view bare_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close != std::string_view::npos) return host.substr(1, close - 1);
    return host;  // malformed; compared as is (and will not match a sane rule)
  }
  // One colon: "name:port". More than one: a bare IPv6 literal, no port.
  const size_t colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

}  // namespace

// One compiled rule. Owned by the Router; read-only after construction.
struct Router::Rule {
  PathMatch match = PathMatch::kPrefix;
  std::string path;                  // exact path or prefix
  std::optional<std::regex> regex;   // kRegex; empty if the source did not compile
  std::vector<std::string> methods;  // empty = any
  std::string host;                  // lower-case bare host; empty = any
  bool host_wildcard = false;        // host holds the suffix ".example.com"
  bool strip_prefix = false;
  size_t keep_from = 0;  // strip_prefix: where the forwarded path starts when the
                         // remainder does not begin with '/' (the prefix's last '/')

  // Exact and prefix rules; a regex rule passes here and is tested last.
  bool literal_path_matches(std::string_view p) const {
    switch (match) {
      case PathMatch::kExact:
        return p == path;
      case PathMatch::kPrefix:
        return p.starts_with(path);
      case PathMatch::kRegex:
        return true;
    }
    return false;
  }

  bool regex_matches(std::string_view p) const {
    if (match != PathMatch::kRegex) return true;
    return regex && std::regex_search(p.begin(), p.end(), *regex);
  }

  bool method_matches(std::string_view method) const {
    if (methods.empty()) return true;
    for (const std::string& m : methods) {
      if (http::iequals(m, method)) return true;
    }
    return false;
  }

  // `h` is already a bare host (see bare_host).
  bool host_matches(std::string_view h) const {
    if (host.empty()) return true;
    if (!host_wildcard) return http::iequals(host, h);
    return h.size() > host.size() && http::iequals(host, h.substr(h.size() - host.size()));
  }

  std::string_view forward_path(std::string_view p) const {
    if (!strip_prefix || match != PathMatch::kPrefix) return p;
    const std::string_view rest = p.substr(path.size());
    if (rest.empty()) return "/";
    if (rest.front() == '/') return rest;
    // Prefix "/api/car/" with "/api/car/x", or "/api/car" with "/api/carx":
    // keep the prefix's last '/' so the forwarded path stays origin-form and
    // remains a view into `p` ("/x", "/carx").
    return p.substr(keep_from);
  }
};

Router::Router(const Config& config) {
  routes_.reserve(config.routes.size());
  rules_.reserve(config.routes.size());
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& rc = config.routes[i];
    routes_.push_back(Route{rc.name, i, rc.upstream_index, &rc});

    auto rule = std::make_unique<Rule>();
    rule->match = rc.match;
    rule->strip_prefix = rc.strip_prefix;
    if (rc.match == PathMatch::kRegex) {
      // The validator compiles the same source with the same engine, so a
      // valid Config never throws here; a bad one yields a rule that never
      // matches rather than an exception out of a reload.
      try {
        rule->regex.emplace(rc.path, std::regex::ECMAScript);
      } catch (const std::regex_error&) {
        rule->regex.reset();
      }
    } else {
      rule->path = rc.path;
      const size_t slash = rc.path.rfind('/');
      rule->keep_from = slash == std::string::npos ? 0 : slash;
    }
    rule->methods = rc.methods;
    const std::string host = to_lower(bare_host(rc.host));
    if (host.starts_with("*.")) {
      rule->host = host.substr(1);
      rule->host_wildcard = true;
    } else {
      rule->host = host;
    }
    rules_.push_back(std::move(rule));
  }
}

Router::~Router() = default;

Router::Match Router::classify(std::string_view method, std::string_view host,
                               std::string_view path) const {
  const size_t query = path.find('?');
  if (query != std::string_view::npos) path = path.substr(0, query);
  const std::string_view bare = bare_host(host);
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = *rules_[i];
    // Cheapest and most selective first; the regex engine last.
    if (!rule.literal_path_matches(path) || !rule.method_matches(method) ||
        !rule.host_matches(bare) || !rule.regex_matches(path)) {
      continue;
    }
    return Match{&routes_[i], rule.forward_path(path)};
  }
  return Match{};
}

}  // namespace routemeter
