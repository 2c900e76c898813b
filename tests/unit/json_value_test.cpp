// JsonValue: the reader `routemeter top` parses /status.json with.
#include "routemeter/json_value.hpp"

#include <catch2/catch.hpp>
#include <string>

using routemeter::JsonValue;

TEST_CASE("JsonValue reads objects arrays numbers strings and literals", "[json]") {
  auto v = JsonValue::parse(
      R"( {"a": [1, -2.5e1, 0.125], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "t": true, "n": null} )");
  REQUIRE(v.has_value());
  CHECK(v->type() == JsonValue::Type::kObject);
  REQUIRE((*v)["a"].items().size() == 3);
  CHECK((*v)["a"].items()[1].number_or(0) == -25);
  CHECK((*v)["a"].items()[2].number_or(0) == 0.125);
  CHECK((*v)["s"].string() == "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK((*v)["t"].boolean());
  CHECK((*v)["n"].is_null());
  CHECK((*v)["missing"].is_null());
  CHECK((*v)["n"].number_or(7) == 7);
}

TEST_CASE("JsonValue refuses what is not JSON and says where", "[json]") {
  for (const char* bad :
       {"", "{", "[1,]", "{\"a\" 1}", "tru", "01x", "\"\x01\"", "[1] 2", "-", "\"\\q\""}) {
    INFO(bad);
    std::string error;
    CHECK_FALSE(JsonValue::parse(bad, &error).has_value());
    CHECK(error.starts_with("offset "));
  }
  std::string deep(100, '[');
  CHECK_FALSE(JsonValue::parse(deep + std::string(100, ']')).has_value());
}
