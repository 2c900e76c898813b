// The router: the [[route]] rules of a Config compiled once into a table that
// classifies each request into a named route (docs/routing.md). First match
// wins, in file order. Immutable after construction; any thread may call
// classify() concurrently.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/config.hpp"

namespace routemeter {

// One compiled route rule.
struct Route {
  std::string name;
  size_t index = 0;                     // position in Config::routes (and in Router::routes())
  size_t upstream_index = 0;            // index into Config::upstreams
  const RouteConfig* config = nullptr;  // owned by the Config the Router was built from
};

class Router {
 public:
  // `config` must be valid (as returned by parse_config) and outlive the Router.
  explicit Router(const Config& config);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  struct Match {
    const Route* route = nullptr;   // nullptr: no route matched ("unmatched", 404)
    std::string_view forward_path;  // path to send upstream (after strip_prefix); a view
                                    // into `path` or a static "/"; never the query
                                    // (the caller appends it)
  };

  // `method` as sent (compared case-insensitively), `host` the Host header value
  // (may carry a ":port", compared case-insensitively), `path` the normalized
  // request path (see normalize_path); anything from '?' on is ignored.
  // Allocates nothing for exact and prefix rules.
  Match classify(std::string_view method, std::string_view host, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Rule;
  std::vector<Route> routes_;
  std::vector<std::unique_ptr<Rule>> rules_;
};

// Syntax-based normalization of an origin-form request path (RFC 3986 6.2.2):
// percent-encoded unreserved characters are decoded (%7E -> ~, %2e -> .), other
// percent-escapes are upper-cased and kept (so %2F stays %2F), and "." / ".."
// segments are removed. The result is what routes match on and what is forwarded.
// Returns false for a path that is not origin-form, has a bad %-escape or a ".."
// climbing above the root (the request gets 400). `path` excludes the query.
// `out` is scratch, used only when the path has a '%' or a "/." (reuse it across
// requests to keep its capacity); `result` views `path` whenever the normalized
// path equals it, else `out`. Rules and decisions: docs/routing.md.
bool normalize_path(std::string_view path, std::string& out, std::string_view& result);

}  // namespace routemeter
