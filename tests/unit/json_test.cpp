// The one JSON string escaper (access log, /config, /version).
#include "routemeter/json.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

using namespace routemeter;

namespace {

std::string literal(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace

TEST_CASE("json: plain text is quoted and otherwise unchanged", "[json]") {
  CHECK(literal("") == "\"\"");
  CHECK(literal("/api/car/random?q=1") == "\"/api/car/random?q=1\"");
  CHECK(literal("caf\xc3\xa9") == "\"caf\xc3\xa9\"");  // UTF-8 passes through
}

TEST_CASE("json: quotes, backslashes and control characters are escaped", "[json]") {
  struct Case {
    std::string_view text;
    std::string_view json;
  };
  const Case cases[] = {
      {"a\"b", R"("a\"b")"},
      {"a\\b", R"("a\\b")"},
      {"\b\f\n\r\t", R"("\b\f\n\r\t")"},
      {std::string_view("\0", 1), R"("\u0000")"},
      {"\x01\x1f", R"("\u0001\u001f")"},
      {"\x7f", R"("\u007f")"},
      {" ~\x80", "\" ~\x80\""},  // the printable ends and a non-ASCII byte stay
      {"x\"\"y\n", R"("x\"\"y\n")"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    CHECK(literal(c.text) == c.json);
  }
}

TEST_CASE("json: appends to what the output already holds", "[json]") {
  std::string out = "{\"k\":";
  append_json_string(out, "v");
  out += '}';
  CHECK(out == "{\"k\":\"v\"}");
}
