// normalize_path(): RFC 3986 6.2.2 normalization of request paths.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/router.hpp"

namespace routemeter {

TEST_CASE("path: already-normal paths come back as the same view, out untouched", "[path]") {
  const std::vector<std::string> cases = {
      "/",    "/api/car/random", "/a//b", "/a/b/", "/a.b/c.d", "/a/b.", "/~user-_x",
      "/a..", "/a/b..",          "//",    "/a b",
  };
  for (const std::string& path : cases) {
    INFO(path);
    std::string out = "untouched";
    std::string_view result;
    REQUIRE(normalize_path(path, out, result));
    CHECK(result == path);
    CHECK(result.data() == path.data());
    CHECK(out == "untouched");
  }
}

TEST_CASE("path: slow-path inputs that do not change still view the input", "[path]") {
  const std::vector<std::string> cases = {
      "/.well-known/x", "/a/...", "/a/..b/c", "/a/.b", "/a%2Fb", "/%C3%A9", "/a%25b", "/a/b/.x",
  };
  for (const std::string& path : cases) {
    INFO(path);
    std::string out;
    std::string_view result;
    REQUIRE(normalize_path(path, out, result));
    CHECK(result == path);
    CHECK(result.data() == path.data());
  }
}

TEST_CASE("path: dot segments are removed and escapes normalized", "[path]") {
  struct Case {
    std::string in;
    std::string expected;
  };
  const std::vector<Case> cases = {
      // RFC 3986 5.2.4 remove_dot_segments
      {"/a/./b", "/a/b"},
      {"/a/b/../c", "/a/c"},
      {"/a/b/../../c", "/c"},
      {"/a/.", "/a/"},
      {"/a/..", "/"},
      {"/a/b/..", "/a/"},
      {"/.", "/"},
      {"/./", "/"},
      {"/./a", "/a"},
      {"/a/./", "/a/"},
      {"/a/../", "/"},
      {"/a/./../b/./c/.", "/b/c/"},
      {"/api/car/../shop/x", "/api/shop/x"},
      // empty segments are kept, and ".." removes one of them like any segment
      {"/a//./b", "/a//b"},
      {"/a//../b", "/a/b"},
      {"//..", "/"},
      // encoded dots count as dots
      {"/a/%2e/b", "/a/b"},
      {"/a/%2E%2e/b", "/b"},
      {"/a/.%2e", "/"},
      {"/a/%2e./b", "/b"},
      {"/api/car/%2e%2e/shop/x", "/api/shop/x"},
      // unreserved characters are decoded, others upper-cased and kept
      {"/%7Euser", "/~user"},
      {"/%7euser", "/~user"},
      {"/%41%5a%61%7a%30%39%2D%2E%5F%7E", "/AZaz09-._~"},
      {"/a%2fb", "/a%2Fb"},
      {"/%c3%a9", "/%C3%A9"},
      {"/%20x", "/%20x"},
      {"/%3f", "/%3F"},
      {"/%00", "/%00"},
      // no double decoding; an encoded '/' is not a separator
      {"/%252e%252e/x", "/%252e%252e/x"},
      {"/a/%2e%2e%2fb", "/a/..%2Fb"},
      {"/a/..%2F..%2Fb", "/a/..%2F..%2Fb"},
  };
  for (const Case& c : cases) {
    INFO(c.in);
    std::string out;
    std::string_view result;
    REQUIRE(normalize_path(c.in, out, result));
    CHECK(result == c.expected);
  }
}

TEST_CASE("path: the scratch string can be reused across calls", "[path]") {
  std::string out;
  std::string_view result;
  REQUIRE(normalize_path("/a/very/long/path/../../x/%7e", out, result));
  CHECK(result == "/a/very/x/~");
  REQUIRE(normalize_path("/b/./c", out, result));
  CHECK(result == "/b/c");
  CHECK(out == "/b/c");
}

TEST_CASE("path: non-origin-form, bad escapes and climbing above the root are rejected", "[path]") {
  const std::vector<std::string> cases = {
      "",           "a/b",     "*",     "http://x/y", "/..",    "/../a",   "/a/../..",
      "/a/../../b", "/%2e%2e", "/.%2E", "/%zz",       "/%4",    "/%",      "/a%",
      "/%g0",       "/%0g",    "/a/%",  "/%2",        "/x/%-1", "/./../a",
  };
  for (const std::string& path : cases) {
    INFO("\"" << path << "\"");
    std::string out;
    std::string_view result = "unchanged";
    CHECK_FALSE(normalize_path(path, out, result));
  }
}

}  // namespace routemeter
