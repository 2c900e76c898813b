// Typed reads of toml++ nodes for the config loader; see config_reader.hpp.
#include "config_reader.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

namespace routemeter::config_detail {
namespace {

// Levenshtein distance, for "did you mean" hints on short key names.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string join(std::string_view prefix, std::string_view key) {
  std::string out(prefix);
  out += key;
  return out;
}

void sort_by_position(std::vector<ConfigError>& list) {
  std::stable_sort(list.begin(), list.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.position.line, a.position.column) <
           std::pair(b.position.line, b.position.column);
  });
}

}  // namespace

std::string normalize_host(std::string_view text) {
  std::string host;
  std::string_view rest = text;
  if (rest.substr(0, 2) == "*.") {
    host = "*.";
    rest.remove_prefix(2);
  }
  if (rest.empty() || rest.front() == '.' || rest.back() == '.' ||
      rest.find("..") != std::string_view::npos) {
    return {};
  }
  for (char c : rest) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return {};
    }
    host += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return host;
}

SourcePosition position_of(const toml::source_region& region) {
  return SourcePosition{region.begin.line, region.begin.column};
}

std::string_view type_phrase(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x",
                    static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

void ConfigReader::error(SourcePosition where, std::string message) {
  errors_.push_back(ConfigError{file_, where, std::move(message)});
}

void ConfigReader::warning(SourcePosition where, std::string message) {
  warnings_.push_back(ConfigError{file_, where, std::move(message)});
}

std::vector<ConfigError> ConfigReader::take_errors() {
  sort_by_position(errors_);
  return std::move(errors_);
}

std::vector<ConfigError> ConfigReader::take_warnings() {
  sort_by_position(warnings_);
  return std::move(warnings_);
}

void ConfigReader::check_keys(const toml::table& table,
                              std::initializer_list<std::string_view> allowed,
                              std::string_view prefix) {
  for (const auto& [key, node] : table) {
    const std::string_view name = key.str();
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    std::string message = join(prefix, name) + ": unknown key";
    for (std::string_view candidate : allowed) {
      if (edit_distance(name, candidate) <= 2) {
        message += " (did you mean " + quoted(candidate) + "?)";
        break;
      }
    }
    error(key.source(), std::move(message));
  }
}

void ConfigReader::type_error(const toml::node& node, std::string_view what,
                              std::string_view expected) {
  error(node.source(), std::string(what) + ": expected " + std::string(expected) + ", got " +
                           std::string(type_phrase(node.type())));
}

bool ConfigReader::node_string(const toml::node& node, std::string_view what, std::string& out) {
  const auto* value = node.as_string();
  if (value == nullptr) {
    type_error(node, what, "a string");
    return false;
  }
  out = value->get();
  return true;
}

bool ConfigReader::node_number(const toml::node& node, std::string_view what, double& out) {
  double value = 0;
  if (const auto* integer = node.as_integer()) {
    value = static_cast<double>(integer->get());
  } else if (const auto* floating = node.as_floating_point()) {
    value = floating->get();
  } else {
    type_error(node, what, "a number");
    return false;
  }
  if (!std::isfinite(value)) {
    error(node.source(), std::string(what) + ": must be a finite number");
    return false;
  }
  out = value;
  return true;
}

bool ConfigReader::node_host_port(const toml::node& node, std::string_view what, uint16_t min_port,
                                  HostPort& out) {
  std::string text;
  if (!node_string(node, what, text)) return false;
  std::optional<HostPort> parsed = parse_host_port(text);
  if (!parsed) {
    error(node.source(), std::string(what) + ": expected \"host:port\" or \"[ipv6]:port\" with a " +
                             "port of 0-65535, got " + quoted(text));
    return false;
  }
  if (parsed->port < min_port) {
    error(node.source(), std::string(what) + ": port must be between " + std::to_string(min_port) +
                             " and 65535, got " + quoted(text));
    return false;
  }
  out = std::move(*parsed);
  return true;
}

bool ConfigReader::node_listen_list(const toml::node& node, std::string_view what,
                                    std::vector<HostPort>& out) {
  // One address may be written as a plain string.
  std::vector<HostPort> addresses;
  bool ok = true;
  if (node.is_string()) {
    HostPort address;
    ok = node_host_port(node, what, 0, address);
    addresses.push_back(address);
  } else if (const auto* array = node.as_array()) {
    if (array->empty()) {
      error(node.source(), std::string(what) + ": needs at least one address");
      ok = false;
    }
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const std::string element_what = std::string(what) + "[" + std::to_string(i) + "]";
      HostPort address;
      if (!node_host_port(element, element_what, 0, address)) {
        ok = false;
        continue;
      }
      for (const HostPort& seen : addresses) {
        if (seen == address && address.port != 0) {
          error(element.source(),
                element_what + ": " + quoted(address.text()) + " is listed twice");
          ok = false;
        }
      }
      addresses.push_back(address);
    }
  } else {
    type_error(node, what, "an array of \"host:port\" strings");
    ok = false;
  }
  if (ok) out = std::move(addresses);
  return ok;
}

bool ConfigReader::read_string(const toml::table& table, std::string_view key,
                               std::string_view prefix, std::string& out) {
  const toml::node* node = table.get(key);
  return node != nullptr && node_string(*node, join(prefix, key), out);
}

bool ConfigReader::read_bool(const toml::table& table, std::string_view key,
                             std::string_view prefix, bool& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return false;
  const auto* value = node->as_boolean();
  if (value == nullptr) {
    type_error(*node, join(prefix, key), "a boolean");
    return false;
  }
  out = value->get();
  return true;
}

bool ConfigReader::read_integer(const toml::table& table, std::string_view key,
                                std::string_view prefix, int64_t min, int64_t max, int64_t& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return false;
  const auto* value = node->as_integer();
  if (value == nullptr) {
    type_error(*node, join(prefix, key), "an integer");
    return false;
  }
  const int64_t v = value->get();
  if (v < min || v > max) {
    error(node->source(), join(prefix, key) + ": must be between " + std::to_string(min) + " and " +
                              std::to_string(max) + ", got " + std::to_string(v));
    return false;
  }
  out = v;
  return true;
}

bool ConfigReader::read_duration(const toml::table& table, std::string_view key,
                                 std::string_view prefix, bool allow_zero, Duration& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return false;
  const std::string what = join(prefix, key);
  const auto* value = node->as_string();
  if (value == nullptr) {
    type_error(*node, what, "a duration string like \"10s\"");
    return false;
  }
  std::optional<Duration> parsed = parse_duration(value->get());
  if (!parsed) {
    error(node->source(), what +
                              ": expected a duration: an integer and a unit ms, s, m or h "
                              "(\"250ms\", \"10s\"), got " +
                              quoted(value->get()));
    return false;
  }
  if (!allow_zero && parsed->count() == 0) {
    error(node->source(), what + ": must be greater than 0, got " + quoted(value->get()));
    return false;
  }
  out = *parsed;
  return true;
}

bool ConfigReader::read_size(const toml::table& table, std::string_view key,
                             std::string_view prefix, uint64_t min, uint64_t& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return false;
  const std::string what = join(prefix, key);
  uint64_t bytes = 0;
  if (const auto* integer = node->as_integer()) {
    if (integer->get() < 0) {
      error(node->source(), what + ": must not be negative, got " + std::to_string(integer->get()));
      return false;
    }
    bytes = static_cast<uint64_t>(integer->get());
  } else if (const auto* text = node->as_string()) {
    std::optional<uint64_t> parsed = parse_size(text->get());
    if (!parsed) {
      error(node->source(), what +
                                ": expected a size: bytes, or an integer and a unit B, KiB, MiB "
                                "or GiB (\"16KiB\"), got " +
                                quoted(text->get()));
      return false;
    }
    bytes = *parsed;
  } else {
    type_error(*node, what, "a size (an integer or a string like \"16KiB\")");
    return false;
  }
  if (bytes < min) {
    error(node->source(),
          what + ": must be at least " + std::to_string(min) + ", got " + std::to_string(bytes));
    return false;
  }
  out = bytes;
  return true;
}

const toml::array* ConfigReader::read_array(const toml::table& table, std::string_view key,
                                            std::string_view prefix) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return nullptr;
  const auto* array = node->as_array();
  if (array == nullptr) type_error(*node, join(prefix, key), "an array");
  return array;
}

const toml::table* ConfigReader::read_table(const toml::table& table, std::string_view key,
                                            std::string_view prefix) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return nullptr;
  const auto* sub = node->as_table();
  if (sub == nullptr) type_error(*node, join(prefix, key), "a table");
  return sub;
}

}  // namespace routemeter::config_detail
