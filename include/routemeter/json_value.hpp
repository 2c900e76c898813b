// A small JSON reader (RFC 8259) for what routemeter reads back from its own
// admin listener: `routemeter top` parses GET /status.json with it. Values
// are copied into a tree; objects keep their members in order. Not for the
// request path. Stateless; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace routemeter {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_number() const { return type_ == Type::kNumber; }
  // The number, or `fallback` for anything else (null included).
  double number_or(double fallback) const { return type_ == Type::kNumber ? number_ : fallback; }
  const std::string& string() const { return string_; }  // empty unless a string
  bool boolean() const { return boolean_; }
  const std::vector<JsonValue>& items() const { return items_; }  // an array's
  // An object's member, or a shared null value when absent (or not an object).
  const JsonValue& operator[](std::string_view key) const;

  // Parses a whole document (surrounding whitespace allowed); std::nullopt
  // and `error` ("offset 12: expected ':'") when it is not valid JSON.
  static std::optional<JsonValue> parse(std::string_view text, std::string* error = nullptr);

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool boolean_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

}  // namespace routemeter
