// Internal to the config loader (src/config*.cpp): typed reads of toml++ nodes
// that collect every problem as a ConfigError with the node's file:line:col
// instead of stopping at the first one. One ConfigReader per load, used by one
// thread; it only reads the toml::table it is given.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "routemeter/config.hpp"

namespace routemeter::config_detail {

SourcePosition position_of(const toml::source_region& region);
// Lower-cased host name, optionally with one leading "*." wildcard label;
// empty when `text` is not one (a port, spaces, empty labels).
std::string normalize_host(std::string_view text);
// "a string", "an integer", ... for "expected X, got Y" messages.
std::string_view type_phrase(toml::node_type type);
// `text` in double quotes, with quotes and control characters escaped.
std::string quoted(std::string_view text);

class ConfigReader {
 public:
  explicit ConfigReader(std::string file) : file_(std::move(file)) {}

  void error(SourcePosition where, std::string message);
  void error(const toml::source_region& where, std::string message) {
    error(position_of(where), std::move(message));
  }
  bool has_errors() const { return !errors_.empty(); }
  // Every error so far, sorted by position (toml++ tables are not in file order).
  std::vector<ConfigError> take_errors();
  // Something that loads but deserves a look (ConfigLoadResult::warnings).
  void warning(SourcePosition where, std::string message);
  std::vector<ConfigError> take_warnings();
  // The config file's name as given, for paths relative to it.
  const std::string& file() const { return file_; }

  // Reports each key of `table` that is not in `allowed`, at the key itself.
  // `prefix` starts the message ("server.", "upstream \"car\": ").
  void check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                  std::string_view prefix);

  // Each read_* below looks `key` up in `table`: absent -> returns false and
  // leaves `out` alone (the default stays); present but wrong -> reports an
  // error naming prefix+key and returns false; good -> sets `out`, returns true.
  bool read_string(const toml::table& table, std::string_view key, std::string_view prefix,
                   std::string& out);
  bool read_bool(const toml::table& table, std::string_view key, std::string_view prefix,
                 bool& out);
  bool read_integer(const toml::table& table, std::string_view key, std::string_view prefix,
                    int64_t min, int64_t max, int64_t& out);
  template <typename T>
  bool read_unsigned(const toml::table& table, std::string_view key, std::string_view prefix, T min,
                     T max, T& out) {
    int64_t value = 0;
    if (!read_integer(table, key, prefix, static_cast<int64_t>(min), static_cast<int64_t>(max),
                      value)) {
      return false;
    }
    out = static_cast<T>(value);
    return true;
  }
  // allow_zero: whether "0s" is meaningful for this key.
  bool read_duration(const toml::table& table, std::string_view key, std::string_view prefix,
                     bool allow_zero, Duration& out);
  bool read_size(const toml::table& table, std::string_view key, std::string_view prefix,
                 uint64_t min, uint64_t& out);
  const toml::array* read_array(const toml::table& table, std::string_view key,
                                std::string_view prefix);
  const toml::table* read_table(const toml::table& table, std::string_view key,
                                std::string_view prefix);

  // Element-level reads; `what` is the full name used in messages ("server.listen[0]").
  bool node_string(const toml::node& node, std::string_view what, std::string& out);
  bool node_number(const toml::node& node, std::string_view what, double& out);
  bool node_host_port(const toml::node& node, std::string_view what, uint16_t min_port,
                      HostPort& out);
  // A listener list: one address string or a non-empty array of them, none
  // twice (port 0 excepted). Sets `out` only when every element is good.
  bool node_listen_list(const toml::node& node, std::string_view what, std::vector<HostPort>& out);

  void type_error(const toml::node& node, std::string_view what, std::string_view expected);

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
};

}  // namespace routemeter::config_detail
