// Loading the TOML config: defaults, every key, every class of error with its
// exact position, all errors at once, the reference file and the JSON view.
#include "routemeter/config.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

using namespace routemeter;
using namespace std::chrono_literals;

namespace {

ConfigLoadResult load(std::string_view text) { return parse_config(text, "t.toml"); }

std::string all_errors(const ConfigLoadResult& result) {
  std::string out;
  for (const ConfigError& e : result.errors) out += e.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("an empty file gives the documented defaults", "[config]") {
  ConfigLoadResult result = load("");
  REQUIRE(result.ok());
  REQUIRE(result.errors.empty());
  const Config& c = *result.config;
  CHECK(c.source_path == "t.toml");
  CHECK(c.server.listen == std::vector<HostPort>{{"0.0.0.0", 8080}});
  CHECK(c.server.workers == 0);
  CHECK(c.server.max_connections == 10000);
  CHECK(c.server.max_header_bytes == 16384);
  CHECK(c.server.max_body_bytes == 8388608);
  CHECK(c.server.client_header_timeout == 10s);
  CHECK(c.server.client_body_timeout == 30s);
  CHECK(c.server.keepalive_timeout == 60s);
  CHECK(c.server.drain_timeout == 30s);
  CHECK(c.admin.listen == HostPort{"127.0.0.1", 9901});
  CHECK_FALSE(c.admin.token.has_value());
  CHECK(c.metrics.name_space == "routemeter");
  CHECK(c.metrics.histogram_buckets ==
        std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  CHECK(c.metrics.summary_quantiles ==
        std::vector<SummaryQuantile>{{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}});
  CHECK(c.metrics.summary_max_age == 60s);
  CHECK(c.metrics.summary_age_buckets == 5);
  CHECK(c.metrics.top_paths == 20);
  CHECK(c.log.access == "stdout");
  CHECK(c.log.format == LogFormat::kJson);
  CHECK(c.log.level == LogLevel::kInfo);
  // No route is required: such a proxy answers 404 to everything.
  CHECK(c.upstreams.empty());
  CHECK(c.routes.empty());
}

TEST_CASE("every key of every section is read", "[config]") {
  ConfigLoadResult result = load(R"(
[server]
listen = ["127.0.0.1:0", "[::1]:8081"]
workers = 3
max_connections = 5
max_header_bytes = 4096
max_body_bytes = "1GiB"
client_header_timeout = "250ms"
client_body_timeout = "2m"
keepalive_timeout = "1h"
drain_timeout = "0s"

[admin]
listen = "[::1]:0"
token = "s3cret"

[metrics]
namespace = "edge"
histogram_buckets = [1, 2.5, 10]
summary_quantiles = [[0.25, 0.01], [0.75, 0.02]]
summary_max_age = "5m"
summary_age_buckets = 1
top_paths = 7

[log]
access = "/var/log/routemeter/access.log"
format = "combined"
level = "debug"

[[upstream]]
name = "car"
servers = ["127.0.0.1:9001", "localhost:9003"]
balance = "least_conn"
connect_timeout = "100ms"
response_timeout = "5s"
max_idle_connections = 0
[upstream.health]
path = "/ping"
interval = "2s"
timeout = "500ms"
unhealthy_after = 1
healthy_after = 4

[[upstream]]
name = "shop"
servers = ["127.0.0.1:9002"]

[[route]]
name = "exact"
path = "/healthz"
upstream = "shop"

[[route]]
name = "car_api.v1"
path_prefix = "/api/car/"
methods = ["get", "Post", "PURGE"]
host = "*.Cars.Example.COM"
upstream = "car"
strip_prefix = true

[[route]]
name = "versioned"
path_regex = "^/api/v[0-9]+/"
upstream = "car"
strip_prefix = false
)");
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK(c.server.listen == std::vector<HostPort>{{"127.0.0.1", 0}, {"::1", 8081}});
  CHECK(c.server.workers == 3);
  CHECK(c.server.max_connections == 5);
  CHECK(c.server.max_header_bytes == 4096);
  CHECK(c.server.max_body_bytes == 1073741824);
  CHECK(c.server.client_header_timeout == 250ms);
  CHECK(c.server.client_body_timeout == 2min);
  CHECK(c.server.keepalive_timeout == 1h);
  CHECK(c.server.drain_timeout == 0ms);
  CHECK(c.admin.listen == HostPort{"::1", 0});
  CHECK(c.admin.token == "s3cret");
  CHECK(c.metrics.name_space == "edge");
  CHECK(c.metrics.histogram_buckets == std::vector<double>{1, 2.5, 10});
  CHECK(c.metrics.summary_quantiles == std::vector<SummaryQuantile>{{0.25, 0.01}, {0.75, 0.02}});
  CHECK(c.metrics.summary_max_age == 5min);
  CHECK(c.metrics.summary_age_buckets == 1);
  CHECK(c.metrics.top_paths == 7);
  CHECK(c.log.access == "/var/log/routemeter/access.log");
  CHECK(c.log.format == LogFormat::kCombined);
  CHECK(c.log.level == LogLevel::kDebug);

  REQUIRE(c.upstreams.size() == 2);
  const UpstreamConfig& car = c.upstreams[0];
  CHECK(car.name == "car");
  CHECK(car.servers == std::vector<HostPort>{{"127.0.0.1", 9001}, {"localhost", 9003}});
  CHECK(car.balance == Balance::kLeastConn);
  CHECK(car.connect_timeout == 100ms);
  CHECK(car.response_timeout == 5s);
  CHECK(car.max_idle_connections == 0);
  CHECK(car.health.enabled);
  CHECK(car.health.path == "/ping");
  CHECK(car.health.interval == 2s);
  CHECK(car.health.timeout == 500ms);
  CHECK(car.health.unhealthy_after == 1);
  CHECK(car.health.healthy_after == 4);
  CHECK(car.position.line == 30);
  CHECK(car.position.column == 1);
  const UpstreamConfig& shop = c.upstreams[1];
  CHECK(shop.balance == Balance::kRoundRobin);
  CHECK(shop.connect_timeout == 1s);
  CHECK(shop.response_timeout == 30s);
  CHECK(shop.max_idle_connections == 64);
  CHECK_FALSE(shop.health.enabled);
  CHECK(shop.health.path == "/healthz");

  REQUIRE(c.routes.size() == 3);
  CHECK(c.routes[0].name == "exact");
  CHECK(c.routes[0].match == PathMatch::kExact);
  CHECK(c.routes[0].path == "/healthz");
  CHECK(c.routes[0].methods.empty());
  CHECK(c.routes[0].host.empty());
  CHECK(c.routes[0].upstream == "shop");
  CHECK(c.routes[0].upstream_index == 1);
  CHECK_FALSE(c.routes[0].strip_prefix);
  CHECK(c.routes[0].position.line == 48);
  CHECK(c.routes[1].match == PathMatch::kPrefix);
  CHECK(c.routes[1].path == "/api/car/");
  CHECK(c.routes[1].methods == std::vector<std::string>{"GET", "POST", "PURGE"});
  CHECK(c.routes[1].host == "*.cars.example.com");
  CHECK(c.routes[1].upstream_index == 0);
  CHECK(c.routes[1].strip_prefix);
  CHECK(c.routes[2].match == PathMatch::kRegex);
  CHECK(c.routes[2].path == "^/api/v[0-9]+/");
  CHECK(c.routes[2].upstream_index == 0);
}

TEST_CASE("server.listen also takes a single string", "[config]") {
  ConfigLoadResult result = load("[server]\nlisten = \"127.0.0.1:0\"\n");
  REQUIRE(result.ok());
  CHECK(result.config->server.listen == std::vector<HostPort>{{"127.0.0.1", 0}});
}

TEST_CASE("servers are addresses or tables with a weight, and balance takes random_two",
          "[config]") {
  ConfigLoadResult result = parse_config(R"([[upstream]]
name = "car"
servers = ["127.0.0.1:9001", { address = "127.0.0.1:9003", weight = 3 }, { address = "[::1]:9004" }]
balance = "random_two"

[[upstream]]
name = "shop"
servers = [{ address = "127.0.0.1:9002", weight = 1000 }]
)",
                                         "weights.toml");
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const UpstreamConfig& car = result.config->upstreams[0];
  CHECK(car.servers ==
        std::vector<HostPort>{{"127.0.0.1", 9001}, {"127.0.0.1", 9003}, {"::1", 9004}});
  CHECK(car.weights == std::vector<uint32_t>{1, 3, 1});
  CHECK(car.balance == Balance::kRandomTwo);
  CHECK(result.config->upstreams[1].weight(0) == 1000);
  const std::string json = config_to_json(*result.config);
  CHECK(json.find(R"("balance": "random_two")") != std::string::npos);
  CHECK(json.find(R"("address": "127.0.0.1:9003")") != std::string::npos);
  CHECK(json.find(R"("weight": 3)") != std::string::npos);
  CHECK(json.find(R"("servers": ["127.0.0.1:9001")") == std::string::npos);
}

TEST_CASE("sizes are read from integers and unit strings", "[config]") {
  ConfigLoadResult result = load("[server]\nmax_header_bytes = \"512B\"\nmax_body_bytes = 0\n");
  REQUIRE(result.ok());
  CHECK(result.config->server.max_header_bytes == 512);
  CHECK(result.config->server.max_body_bytes == 0);
}

TEST_CASE("the reference car/shop config is valid", "[config]") {
  ConfigLoadResult result = load_config_file(ROUTEMETER_SOURCE_DIR "/conf/routemeter.toml");
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK(c.server.listen == std::vector<HostPort>{{"127.0.0.1", 8080}});
  CHECK(c.admin.listen == HostPort{"127.0.0.1", 9901});
  REQUIRE(c.upstreams.size() == 2);
  CHECK(c.upstreams[0].name == "car");
  CHECK(c.upstreams[0].servers == std::vector<HostPort>{{"127.0.0.1", 9001}});
  CHECK(c.upstreams[0].health.enabled);
  CHECK(c.upstreams[0].health.path == "/healthz");
  CHECK(c.upstreams[1].name == "shop");
  CHECK(c.upstreams[1].servers == std::vector<HostPort>{{"127.0.0.1", 9002}});
  CHECK(c.upstreams[1].health.enabled);
  REQUIRE(c.routes.size() == 2);
  CHECK(c.routes[0].name == "car-api");
  CHECK(c.routes[0].path == "/api/car/");
  CHECK(c.routes[0].upstream_index == 0);
  CHECK(c.routes[1].name == "shop-api");
  CHECK(c.routes[1].path == "/api/shop/");
  CHECK(c.routes[1].upstream_index == 1);
}

TEST_CASE("a file that cannot be read is one error without a position", "[config]") {
  ConfigLoadResult missing = load_config_file("/nonexistent/routemeter.toml");
  REQUIRE_FALSE(missing.ok());
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0].to_string() ==
        "/nonexistent/routemeter.toml: cannot open: No such file or directory");
  ConfigLoadResult directory = load_config_file("/");
  REQUIRE_FALSE(directory.ok());
  REQUIRE(directory.errors.size() == 1);
  CHECK(directory.errors[0].position.line == 0);
}

TEST_CASE("the effective config as JSON hides the token and writes durations as in TOML",
          "[config]") {
  ConfigLoadResult result = parse_config(R"(
[server]
listen = ["127.0.0.1:0", "[::1]:8081"]
client_header_timeout = "250ms"
drain_timeout = "0s"
[admin]
token = "s3cret"
[metrics]
histogram_buckets = [0.5, 1]
summary_quantiles = [[0.5, 0.05]]
[log]
access = "C:\\logs\\\"a\"	b"
[[upstream]]
name = "car"
servers = ["127.0.0.1:9001"]
[[route]]
name = "exact"
path = "/x"
methods = ["get"]
host = "Cars.Example.com"
upstream = "car"
slo = { latency = "1500ms", objective = 0.995 }
[[route]]
name = "re"
path_regex = "^/v[0-9]+/"
upstream = "car"
)",
                                         "a \"b\".toml");
  INFO(all_errors(result));
  REQUIRE(result.ok());
  const std::string json = config_to_json(*result.config);
  CHECK(json.find("s3cret") == std::string::npos);
  CHECK(json == R"({
  "source_path": "a \"b\".toml",
  "server": {
    "listen": ["127.0.0.1:0", "[::1]:8081"],
    "workers": 0,
    "max_connections": 10000,
    "max_header_bytes": 16384,
    "max_body_bytes": 8388608,
    "client_header_timeout": "250ms",
    "client_body_timeout": "30s",
    "keepalive_timeout": "1m",
    "tunnel_idle_timeout": "5m",
    "drain_timeout": "0s"
  },
  "tls": null,
  "admin": {
    "listen": "127.0.0.1:9901",
    "token_set": true,
    "status_interval": "10s"
  },
  "metrics": {
    "namespace": "routemeter",
    "histogram_buckets": [0.5, 1],
    "summary_quantiles": [[0.5, 0.05]],
    "summary_max_age": "1m",
    "summary_age_buckets": 5,
    "per_server": false,
    "top_paths": 20,
    "max_series": 100000,
    "exemplars": true
  },
  "push": null,
  "log": {
    "access": "C:\\logs\\\"a\"\tb",
    "format": "json",
    "level": "info"
  },
  "upstream": [
    {
      "name": "car",
      "servers": ["127.0.0.1:9001"],
      "balance": "round_robin",
      "connect_timeout": "1s",
      "response_timeout": "30s",
      "max_idle_connections": 64,
      "retries": 1,
      "retry_on": ["connect_failure", "reset"],
      "retry_budget": 0.2,
      "health": null,
      "outlier": null
    }
  ],
  "route": [
    {
      "name": "exact",
      "path": "/x",
      "methods": ["GET"],
      "host": "cars.example.com",
      "upstream": "car",
      "strip_prefix": false,
      "slo": {
        "latency": "1500ms",
        "objective": 0.995
      }
    },
    {
      "name": "re",
      "path_regex": "^/v[0-9]+/",
      "methods": [],
      "host": null,
      "upstream": "car",
      "strip_prefix": false,
      "slo": null
    }
  ]
}
)");
}

TEST_CASE("the JSON of a config without a token says so", "[config]") {
  ConfigLoadResult result = parse_config("", "t.toml");
  REQUIRE(result.ok());
  const std::string json = config_to_json(*result.config);
  CHECK(json.find("\"token_set\": false") != std::string::npos);
  CHECK(json.find("\"upstream\": []") != std::string::npos);
  CHECK(json.find("\"route\": []") != std::string::npos);
}

TEST_CASE("[metrics] per_server is off by default and takes a boolean", "[config]") {
  ConfigLoadResult off = load("");
  REQUIRE(off.ok());
  CHECK_FALSE(off.config->metrics.per_server);
  ConfigLoadResult on = load("[metrics]\nper_server = true\n");
  REQUIRE(on.ok());
  CHECK(on.config->metrics.per_server);
  CHECK_FALSE(load("[metrics]\nper_server = 1\n").ok());
}

TEST_CASE("retries, retry_on and retry_budget: defaults, values and /config", "[config][retry]") {
  const char* kUpstream = "[[upstream]]\nname = \"u\"\nservers = [\"127.0.0.1:1\"]\n";
  ConfigLoadResult defaults = parse_config(kUpstream, "t.toml");
  REQUIRE(defaults.ok());
  const UpstreamConfig& d = defaults.config->upstreams[0];
  CHECK(d.retries == 1);
  CHECK(d.retry_on == (retry_bit(RetryReason::kConnectFailure) | retry_bit(RetryReason::kReset)));
  CHECK(d.retry_budget == 0.2);

  ConfigLoadResult set =
      parse_config(std::string(kUpstream) +
                       "retries = 3\nretry_on = [\"503\", \"response_timeout\", \"502\", \"504\"]\n"
                       "retry_budget = 1\n",
                   "t.toml");
  INFO(all_errors(set));
  REQUIRE(set.ok());
  const UpstreamConfig& u = set.config->upstreams[0];
  CHECK(u.retries == 3);
  CHECK(u.retry_on == (retry_bit(RetryReason::k502) | retry_bit(RetryReason::k503) |
                       retry_bit(RetryReason::k504) | retry_bit(RetryReason::kResponseTimeout)));
  CHECK(u.retry_budget == 1.0);
  const std::string json = config_to_json(*set.config);
  CHECK(json.find(R"("retries": 3,
      "retry_on": ["502", "503", "504", "response_timeout"],
      "retry_budget": 1,)") != std::string::npos);

  // No retries at all: retries = 0, or an empty retry_on.
  ConfigLoadResult none = parse_config(
      std::string(kUpstream) + "retries = 0\nretry_on = []\nretry_budget = 0\n", "t.toml");
  REQUIRE(none.ok());
  CHECK(none.config->upstreams[0].retries == 0);
  CHECK(none.config->upstreams[0].retry_on == 0);
  CHECK(none.config->upstreams[0].retry_budget == 0.0);
  CHECK(config_to_json(*none.config).find(R"("retry_on": [],)") != std::string::npos);
}
