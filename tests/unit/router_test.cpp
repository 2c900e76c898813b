// Router::classify(): precedence, methods, hosts, regex, query, strip_prefix.
// Configs are built directly (no TOML) so these tests only exercise the router.
#include "routemeter/router.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/config.hpp"

namespace routemeter {
namespace {

struct RouteSpec {
  std::string name;
  PathMatch match = PathMatch::kPrefix;
  std::string path;
  std::vector<std::string> methods = {};
  std::string host = {};
  bool strip_prefix = false;
};

Config make_config(const std::vector<RouteSpec>& specs) {
  Config config;
  config.upstreams.push_back(UpstreamConfig{});
  config.upstreams.back().name = "backend";
  for (size_t i = 0; i < specs.size(); ++i) {
    RouteConfig rc;
    rc.name = specs[i].name;
    rc.match = specs[i].match;
    rc.path = specs[i].path;
    rc.methods = specs[i].methods;
    rc.host = specs[i].host;
    rc.upstream = "backend";
    rc.upstream_index = 0;
    rc.strip_prefix = specs[i].strip_prefix;
    config.routes.push_back(rc);
  }
  return config;
}

std::string classify_name(const Router& router, std::string_view method, std::string_view host,
                          std::string_view path) {
  const Router::Match m = router.classify(method, host, path);
  return m.route ? m.route->name : "unmatched";
}

struct Case {
  std::string method;
  std::string host;
  std::string path;
  std::string expected;
};

void check_cases(const Router& router, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    INFO(c.method << " host=\"" << c.host << "\" " << c.path);
    CHECK(classify_name(router, c.method, c.host, c.path) == c.expected);
  }
}

}  // namespace

TEST_CASE("router: first matching route in file order wins", "[router]") {
  const Config config = make_config({
      {"car-status", PathMatch::kExact, "/api/car/status"},
      {"car", PathMatch::kPrefix, "/api/car/"},
      {"car-health", PathMatch::kExact, "/api/car/health"},  // shadowed by "car"
      {"shop", PathMatch::kPrefix, "/api/shop/"},
      {"root", PathMatch::kPrefix, "/"},
  });
  const Router router(config);
  check_cases(router, {
                          {"GET", "", "/api/car/status", "car-status"},
                          {"GET", "", "/api/car/status/1", "car"},
                          {"GET", "", "/api/car/health", "car"},
                          {"GET", "", "/api/car/", "car"},
                          {"GET", "", "/api/car", "root"},
                          {"GET", "", "/api/carx", "root"},
                          {"GET", "", "/api/shop/random", "shop"},
                          {"GET", "", "/", "root"},
                          {"GET", "", "/other", "root"},
                      });
}

TEST_CASE("router: exact rules match the whole path only", "[router]") {
  const Config config = make_config({{"status", PathMatch::kExact, "/status"}});
  const Router router(config);
  check_cases(router, {
                          {"GET", "", "/status", "status"},
                          {"GET", "", "/status/", "unmatched"},
                          {"GET", "", "/statusx", "unmatched"},
                          {"GET", "", "/Status", "unmatched"},
                          {"GET", "", "/", "unmatched"},
                      });
}

TEST_CASE("router: methods are compared case-insensitively, empty list means any", "[router]") {
  const Config config = make_config({
      {"car-read", PathMatch::kPrefix, "/api/car/", {"GET", "HEAD"}},
      {"car-write", PathMatch::kPrefix, "/api/car/", {"POST", "PUT"}},
      {"car-any", PathMatch::kPrefix, "/api/car/"},
      {"shop-get", PathMatch::kPrefix, "/api/shop/", {"GET"}},
  });
  const Router router(config);
  check_cases(router, {
                          {"GET", "", "/api/car/1", "car-read"},
                          {"get", "", "/api/car/1", "car-read"},
                          {"Head", "", "/api/car/1", "car-read"},
                          {"POST", "", "/api/car/1", "car-write"},
                          {"put", "", "/api/car/1", "car-write"},
                          {"DELETE", "", "/api/car/1", "car-any"},
                          {"GETX", "", "/api/car/1", "car-any"},
                          {"GE", "", "/api/car/1", "car-any"},
                          {"", "", "/api/car/1", "car-any"},
                          {"GET", "", "/api/shop/1", "shop-get"},
                          {"POST", "", "/api/shop/1", "unmatched"},
                      });
}

TEST_CASE("router: hosts match without port and case, with wildcards", "[router]") {
  const Config config = make_config({
      {"cars", PathMatch::kPrefix, "/", {}, "cars.example.com"},
      {"wild", PathMatch::kPrefix, "/", {}, "*.example.com"},
      {"v6", PathMatch::kPrefix, "/", {}, "[::1]"},
      {"v6-bare", PathMatch::kPrefix, "/", {}, "fe80::2"},
      {"ip", PathMatch::kPrefix, "/", {}, "127.0.0.1"},
      {"dotted-rule", PathMatch::kPrefix, "/", {}, "shop.test."},
  });
  const Router router(config);
  check_cases(router, {
                          {"GET", "cars.example.com", "/", "cars"},
                          {"GET", "CARS.Example.COM", "/", "cars"},
                          {"GET", "cars.example.com:8080", "/", "cars"},
                          {"GET", "cars.example.com.", "/", "cars"},
                          {"GET", "cars.example.com.:8080", "/", "cars"},
                          {"GET", "a.example.com", "/", "wild"},
                          {"GET", "a.b.example.com", "/", "wild"},
                          {"GET", "A.EXAMPLE.COM:443", "/", "wild"},
                          {"GET", "x.example.com.", "/", "wild"},
                          {"GET", "example.com", "/", "unmatched"},
                          {"GET", ".example.com", "/", "unmatched"},
                          {"GET", "badexample.com", "/", "unmatched"},
                          {"GET", "example.com.evil.org", "/", "unmatched"},
                          {"GET", "[::1]:8080", "/", "v6"},
                          {"GET", "[::1]", "/", "v6"},
                          {"GET", "::1", "/", "v6"},
                          {"GET", "[fe80::2]:80", "/", "v6-bare"},
                          {"GET", "[fe80::3]:80", "/", "unmatched"},
                          {"GET", "127.0.0.1:9000", "/", "ip"},
                          {"GET", "127.0.0.1", "/", "ip"},
                          {"GET", "127.0.0.2", "/", "unmatched"},
                          {"GET", "shop.test", "/", "dotted-rule"},
                          {"GET", "shop.test.:81", "/", "dotted-rule"},
                          {"GET", "", "/", "unmatched"},
                          {"GET", "example.org", "/", "unmatched"},
                      });
}

TEST_CASE("router: a route without host matches any host, also none", "[router]") {
  const Config config = make_config({
      {"cars", PathMatch::kPrefix, "/", {}, "cars.example.com"},
      {"fallback", PathMatch::kPrefix, "/"},
  });
  const Router router(config);
  check_cases(router, {
                          {"GET", "cars.example.com", "/x", "cars"},
                          {"GET", "shop.example.com", "/x", "fallback"},
                          {"GET", "", "/x", "fallback"},
                          {"GET", "[::1]:1", "/x", "fallback"},
                      });
}

TEST_CASE("router: regex rules use regex_search on the path", "[router]") {
  const Config config = make_config({
      {"versioned", PathMatch::kRegex, "^/api/v[0-9]+/"},
      {"images", PathMatch::kRegex, "\\.(png|jpg)$", {"GET"}},
      {"only-x", PathMatch::kRegex, "^/x$"},
      {"anywhere", PathMatch::kRegex, "secret"},
  });
  const Router router(config);
  check_cases(router, {
                          {"GET", "", "/api/v1/cars", "versioned"},
                          {"GET", "", "/api/v12/", "versioned"},
                          {"GET", "", "/api/vx/", "unmatched"},
                          {"GET", "", "/static/a.png", "images"},
                          {"GET", "", "/static/a.png?size=2", "images"},
                          {"POST", "", "/static/a.png", "unmatched"},
                          {"GET", "", "/static/a.pngx", "unmatched"},
                          {"GET", "", "/x", "only-x"},
                          {"GET", "", "/x?y=1", "only-x"},
                          {"GET", "", "/xy", "unmatched"},
                          {"GET", "", "/a/secret/b", "anywhere"},
                          {"GET", "", "/a?secret", "unmatched"},
                      });
}

TEST_CASE("router: a regex that does not compile never matches and does not throw", "[router]") {
  const Config config = make_config({
      {"broken", PathMatch::kRegex, "(["},
      {"fallback", PathMatch::kPrefix, "/"},
  });
  std::unique_ptr<Router> router;
  REQUIRE_NOTHROW(router = std::make_unique<Router>(config));
  check_cases(*router, {{"GET", "", "/([", "fallback"}, {"GET", "", "/", "fallback"}});
}

TEST_CASE("router: the query string takes no part in matching", "[router]") {
  const Config config = make_config({
      {"status", PathMatch::kExact, "/status"},
      {"api", PathMatch::kPrefix, "/api/"},
  });
  const Router router(config);
  check_cases(router, {
                          {"GET", "", "/status?verbose=1", "status"},
                          {"GET", "", "/status?", "status"},
                          {"GET", "", "/api/x?y=/z", "api"},
                          {"GET", "", "/api?/", "unmatched"},
                          {"GET", "", "/x?/api/", "unmatched"},
                      });
  const Router::Match m = router.classify("GET", "", "/status?verbose=1");
  CHECK(m.forward_path == "/status");
}

TEST_CASE("router: strip_prefix forwards an origin-form path that views the request path",
          "[router]") {
  const Config config = make_config({
      {"slash", PathMatch::kPrefix, "/api/car/", {}, "slash.test", true},
      {"noslash", PathMatch::kPrefix, "/api/car", {}, "noslash.test", true},
      {"root", PathMatch::kPrefix, "/", {}, "root.test", true},
      {"keep", PathMatch::kPrefix, "/api/car/", {}, "keep.test", false},
      {"exact", PathMatch::kExact, "/api/car/x", {}, "exact.test", true},
      {"regex", PathMatch::kRegex, "^/api/", {}, "regex.test", true},
  });
  const Router router(config);
  struct StripCase {
    std::string host;
    std::string path;
    std::string route;
    std::string forward;
  };
  const std::vector<StripCase> cases = {
      {"slash.test", "/api/car/x", "slash", "/x"},
      {"slash.test", "/api/car/", "slash", "/"},
      {"slash.test", "/api/car/a/b", "slash", "/a/b"},
      {"slash.test", "/api/car//x", "slash", "/x"},
      {"slash.test", "/api/car/x?q=1", "slash", "/x"},
      {"noslash.test", "/api/car", "noslash", "/"},
      {"noslash.test", "/api/car/", "noslash", "/"},
      {"noslash.test", "/api/car/x", "noslash", "/x"},
      {"noslash.test", "/api/carx", "noslash", "/carx"},
      {"noslash.test", "/api/car?q", "noslash", "/"},
      {"root.test", "/x", "root", "/x"},
      {"root.test", "/", "root", "/"},
      {"keep.test", "/api/car/x", "keep", "/api/car/x"},
      {"exact.test", "/api/car/x", "exact", "/api/car/x"},
      {"regex.test", "/api/y", "regex", "/api/y"},
  };
  for (const StripCase& c : cases) {
    INFO(c.host << " " << c.path);
    const Router::Match m = router.classify("GET", c.host, c.path);
    REQUIRE(m.route != nullptr);
    CHECK(m.route->name == c.route);
    CHECK(m.forward_path == c.forward);
    // A view into the request path, or the static "/" for an empty remainder.
    const char* begin = c.path.data();
    const char* end = begin + c.path.size();
    const bool inside = m.forward_path.data() >= begin && m.forward_path.data() < end;
    CHECK((inside || m.forward_path == "/"));
  }
  const std::string path = "/api/car/x";
  CHECK(router.classify("GET", "keep.test", path).forward_path.data() == path.data());
}

TEST_CASE("router: no route means a null route and an empty forward path", "[router]") {
  const Config empty;
  const Router none(empty);
  CHECK(none.routes().empty());
  const Router::Match m = none.classify("GET", "example.com", "/");
  CHECK(m.route == nullptr);
  CHECK(m.forward_path.empty());

  const Config config = make_config({{"car", PathMatch::kPrefix, "/api/car/"}});
  const Router router(config);
  check_cases(router, {
                          {"GET", "", "/api/shop/x", "unmatched"},
                          {"GET", "", "/api/ca", "unmatched"},
                          {"GET", "", "", "unmatched"},
                      });
}

TEST_CASE("router: routes() mirrors Config::routes", "[router]") {
  Config config = make_config({
      {"car", PathMatch::kPrefix, "/api/car/"},
      {"shop", PathMatch::kPrefix, "/api/shop/"},
  });
  config.upstreams.push_back(UpstreamConfig{});
  config.routes[1].upstream_index = 1;
  const Router router(config);
  REQUIRE(router.routes().size() == 2);
  CHECK(router.routes()[0].name == "car");
  CHECK(router.routes()[0].index == 0);
  CHECK(router.routes()[0].upstream_index == 0);
  CHECK(router.routes()[0].config == &config.routes[0]);
  CHECK(router.routes()[1].name == "shop");
  CHECK(router.routes()[1].index == 1);
  CHECK(router.routes()[1].upstream_index == 1);
  CHECK(router.routes()[1].config == &config.routes[1]);
  CHECK(router.classify("GET", "", "/api/shop/x").route == &router.routes()[1]);
}

TEST_CASE("router: a normalized path cannot escape a prefix route", "[router]") {
  const Config config = make_config({
      {"car", PathMatch::kPrefix, "/api/car/", {}, "", true},
      {"shop", PathMatch::kPrefix, "/api/shop/"},
  });
  const Router router(config);
  struct EscapeCase {
    std::string raw;
    std::string route;
    std::string forward;
  };
  const std::vector<EscapeCase> cases = {
      {"/api/car/../shop/x", "shop", "/api/shop/x"},
      {"/api/car/%2e%2e/shop/x", "shop", "/api/shop/x"},
      {"/api/car/.%2E/shop/x", "shop", "/api/shop/x"},
      {"/api/car/./x", "car", "/x"},
      {"/api/%63ar/x", "car", "/x"},
      {"/api/car/..%2Fshop/x", "car", "/..%2Fshop/x"},
      {"/api/car/..", "unmatched", ""},
  };
  for (const EscapeCase& c : cases) {
    INFO(c.raw);
    std::string scratch;
    std::string_view normalized;
    REQUIRE(normalize_path(c.raw, scratch, normalized));
    const Router::Match m = router.classify("GET", "", normalized);
    CHECK((m.route ? m.route->name : std::string("unmatched")) == c.route);
    CHECK(m.forward_path == c.forward);
  }
}

}  // namespace routemeter
