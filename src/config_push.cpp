// The [push] table of the config (docs/metrics.md, "Pushgateway"): where and
// how often to push the exposition, and the grouping key.
#include <toml++/toml.h>
#include <unistd.h>

#include <cctype>
#include <climits>
#include <string>
#include <string_view>

#include "config_reader.hpp"
#include "routemeter/config.hpp"

namespace routemeter::config_detail {
namespace {

bool is_label_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (!std::isalpha(c) && c != '_' && !(i > 0 && std::isdigit(c))) return false;
  }
  return true;
}

// "http://host[:port][/path]" or https; the host part is checked for being
// there and holding no spaces, the rest is libcurl's to judge when pushing.
bool is_push_url(std::string_view url) {
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    rest = url.substr(8);
  } else {
    return false;
  }
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.front() == ':') return false;
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#') return false;
  }
  return true;
}

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

void read_push(ConfigReader& r, const toml::table& t, PushConfig& push) {
  constexpr std::string_view kPrefix = "push.";
  push.position = position_of(t.source());
  r.check_keys(t, {"url", "job", "interval", "grouping"}, kPrefix);
  if (const toml::node* url = t.get("url")) {
    std::string text;
    if (r.node_string(*url, "push.url", text)) {
      while (!text.empty() && text.back() == '/') text.pop_back();
      if (is_push_url(text)) {
        push.url = std::move(text);
      } else {
        r.error(url->source(),
                "push.url: expected the Pushgateway's URL, \"http://host:port\" or "
                "\"https://host:port/path\" (no query), got " +
                    quoted(url->as_string()->get()));
      }
    }
  } else {
    r.error(t.source(), "[push]: missing required key \"url\"");
  }
  std::string job;
  if (r.read_string(t, "job", kPrefix, job)) {
    if (job.empty()) {
      r.error(t.get("job")->source(), "push.job: must not be empty");
    } else {
      push.job = std::move(job);
    }
  }
  r.read_duration(t, "interval", kPrefix, false, push.interval);
  if (const toml::table* grouping = r.read_table(t, "grouping", kPrefix)) {
    push.grouping_configured = true;
    for (const auto& [key, node] : *grouping) {
      const std::string name(key.str());
      const std::string what = "push.grouping." + name;
      if (!is_label_name(name) || name.substr(0, 2) == "__") {
        r.error(key.source(), what + ": not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)");
        continue;
      }
      if (name == "job") {
        r.error(key.source(), what + ": the job is push.job, not a grouping label");
        continue;
      }
      std::string value;
      if (!r.node_string(node, what, value)) continue;
      if (value.empty()) {
        r.error(node.source(), what + ": must not be empty (an empty label is no label)");
        continue;
      }
      push.grouping.emplace_back(name, std::move(value));
    }
  }
  if (!push.grouping_configured) push.grouping.emplace_back("instance", host_name());
}

}  // namespace routemeter::config_detail
