// [push]: the config table and its errors, the Pushgateway URL with its
// grouping key (client_golang's encoding), and the push timeout. Pushing
// itself is tested against the real Pushgateway (integration/push_test.cpp).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <climits>
#include <string>

#include "routemeter/config.hpp"
#include "routemeter/pusher.hpp"

using namespace routemeter;
using namespace std::chrono_literals;

namespace {

std::string all_errors(const ConfigLoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) out += e.to_string() + "\n";
  return out;
}

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

TEST_CASE("push: the [push] table is read, the instance defaults to the host name", "[push]") {
  ConfigLoadResult none = parse_config("", "t.toml");
  REQUIRE(none.ok());
  CHECK_FALSE(none.config->push.has_value());

  ConfigLoadResult minimal = parse_config("[push]\nurl = \"http://127.0.0.1:9091/\"\n", "t.toml");
  INFO(all_errors(minimal));
  REQUIRE(minimal.ok());
  const PushConfig& p = *minimal.config->push;
  CHECK(p.url == "http://127.0.0.1:9091");  // the trailing '/' goes
  CHECK(p.job == "routemeter");
  CHECK(p.interval == 10s);
  CHECK_FALSE(p.grouping_configured);
  REQUIRE(p.grouping.size() == 1);
  CHECK(p.grouping[0].first == "instance");
  CHECK(p.grouping[0].second == host_name());

  ConfigLoadResult full = parse_config(
      "[push]\nurl = \"https://gw.example.com/prefix\"\njob = \"edge\"\ninterval = \"250ms\"\n"
      "grouping = { instance = \"edge-1\", dc = \"eu/west\" }\n",
      "t.toml");
  INFO(all_errors(full));
  REQUIRE(full.ok());
  const PushConfig& f = *full.config->push;
  CHECK(f.url == "https://gw.example.com/prefix");
  CHECK(f.job == "edge");
  CHECK(f.interval == 250ms);
  CHECK(f.grouping_configured);
  CHECK(f.grouping == std::vector<std::pair<std::string, std::string>>{{"dc", "eu/west"},
                                                                       {"instance", "edge-1"}});
  const std::string json = config_to_json(*full.config);
  CHECK(json.find("\"push\": {\n    \"url\": \"https://gw.example.com/prefix\",\n    \"job\": "
                  "\"edge\",\n    \"interval\": \"250ms\",\n    \"grouping\": {\n      \"dc\": "
                  "\"eu/west\",\n      \"instance\": \"edge-1\"\n    }\n  },") !=
        std::string::npos);
}

TEST_CASE("push: mistakes are errors at the key's line and column", "[push]") {
  struct Case {
    const char* toml;  // after "[push]\n"
    const char* at;
    const char* message;
  };
  const Case cases[] = {
      {"job = \"x\"\n", "1:1", "[push]: missing required key \"url\""},
      {"url = \"127.0.0.1:9091\"\n", "2:7",
       "push.url: expected the Pushgateway's URL, \"http://host:port\" or "
       "\"https://host:port/path\" (no query), got \"127.0.0.1:9091\""},
      {"url = \"ftp://gw:21\"\n", "2:7", "push.url: expected the Pushgateway's URL"},
      {"url = \"http://\"\n", "2:7", "push.url: expected the Pushgateway's URL"},
      {"url = \"http://gw:9091/x?a=1\"\n", "2:7", "push.url: expected the Pushgateway's URL"},
      {"url = 9091\n", "2:7", "push.url: expected a string, got an integer"},
      {"url = \"http://gw\"\njob = \"\"\n", "3:7", "push.job: must not be empty"},
      {"url = \"http://gw\"\ninterval = \"0s\"\n", "3:12",
       "push.interval: must be greater than 0, got \"0s\""},
      {"url = \"http://gw\"\ninterval = 10\n", "3:12",
       "push.interval: expected a duration string like \"10s\", got an integer"},
      {"url = \"http://gw\"\ngrouping = \"x\"\n", "3:12",
       "push.grouping: expected a table, got a string"},
      {"url = \"http://gw\"\ngrouping = { job = \"x\" }\n", "3:14",
       "push.grouping.job: the job is push.job, not a grouping label"},
      {"url = \"http://gw\"\ngrouping = { \"a-b\" = \"x\" }\n", "3:14",
       "push.grouping.a-b: not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)"},
      {"url = \"http://gw\"\ngrouping = { __x = \"x\" }\n", "3:14",
       "push.grouping.__x: not a label name"},
      {"url = \"http://gw\"\ngrouping = { instance = 1 }\n", "3:25",
       "push.grouping.instance: expected a string, got an integer"},
      {"url = \"http://gw\"\ngrouping = { instance = \"\" }\n", "3:25",
       "push.grouping.instance: must not be empty (an empty label is no label)"},
      {"url = \"http://gw\"\nintervall = \"1s\"\n", "3:1",
       "push.intervall: unknown key (did you mean \"interval\"?)"},
  };
  for (const Case& c : cases) {
    const std::string toml = std::string("[push]\n") + c.toml;
    ConfigLoadResult result = parse_config(toml, "t.toml");
    const std::string errors = all_errors(result);
    INFO(toml << "\n" << errors);
    CHECK_FALSE(result.ok());
    CHECK(errors.find(std::string("t.toml:") + c.at + ": " + c.message) != std::string::npos);
  }
}

TEST_CASE("push: the URL carries the job and grouping key as client_golang writes them", "[push]") {
  PushConfig c;
  c.url = "http://127.0.0.1:9091";
  c.job = "routemeter";
  c.grouping = {{"instance", "edge-1"}};
  CHECK(push_url(c) == "http://127.0.0.1:9091/metrics/job/routemeter/instance/edge-1");
  // Reserved characters are percent-encoded; a '/' switches to base64url
  // without padding (Go's base64.RawURLEncoding).
  c.job = "a b&c";
  c.grouping = {{"instance", "10.0.0.1:9901"}, {"path", "/var/tmp"}, {"x", "a/b?"}};
  CHECK(push_url(c) ==
        "http://127.0.0.1:9091/metrics/job/a%20b%26c/instance/10.0.0.1%3A9901/"
        "path@base64/L3Zhci90bXA/x@base64/YS9iPw");
  c.job = "team/app";
  c.grouping.clear();
  CHECK(push_url(c) == "http://127.0.0.1:9091/metrics/job@base64/dGVhbS9hcHA");
}

TEST_CASE("push: a push may take the interval, at least 1 s and at most 10 s", "[push]") {
  CHECK(push_timeout(100ms) == 1s);
  CHECK(push_timeout(1s) == 1s);
  CHECK(push_timeout(4500ms) == 4500ms);
  CHECK(push_timeout(10s) == 10s);
  CHECK(push_timeout(1h) == 10s);
}
