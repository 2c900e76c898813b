// Config errors: each class of mistake is reported at the exact line:column of
// the offending key or value (the table's header for a missing key), naming
// what was expected; every error of a file is reported at once.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "routemeter/config.hpp"

using routemeter::ConfigLoadResult;
using routemeter::parse_config;

namespace {

std::string all_errors(const ConfigLoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) out += e.to_string() + "\n";
  return out;
}

// A valid upstream "car" on lines 1-3, for the route cases (which start on line 4).
#define CAR "[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:9001\"]\n"

struct ErrorCase {
  const char* toml;
  const char* at;        // "line:col"
  const char* fragment;  // part of the message
};

// clang-format off
const ErrorCase kCases[] = {
  // Not TOML at all: toml++'s one error.
  {"[server]\nworkers = = 1\n", "2:11", "invalid TOML: "},
  // Wrong types, out of range, unknown keys and tables.
  {"[server]\nworkers = \"4\"\n", "2:11", "server.workers: expected an integer, got a string"},
  {"[server]\nworkers = 1025\n", "2:11", "server.workers: must be between 0 and 1024, got 1025"},
  {"[server]\nworkers = -1\n", "2:11", "server.workers: must be between 0 and 1024, got -1"},
  {"[server]\nwokers = 4\n", "2:1", "server.wokers: unknown key (did you mean \"workers\"?)"},
  {"[server]\nlisten_on = \"x\"\n", "2:1", "server.listen_on: unknown key"},
  {"[serverr]\nworkers = 1\n", "1:2", "[serverr]: unknown table"},
  {"foo = 1\n", "1:1", "foo: unknown key"},
  {"server = 1\n", "1:10", "server: expected a table, got an integer"},
  {"[upstream]\nname = \"a\"\n", "1:1",
   "upstream: expected an array of tables ([[upstream]]), got a table"},
  {"route = [1, 2]\n", "1:9", "route: expected an array of tables ([[route]]), got an array"},
  {"[server]\nmax_connections = 0\n", "2:19", "server.max_connections: must be between 1 and"},
  // Durations.
  {"[server]\nclient_header_timeout = \"10\"\n", "2:25",
   "server.client_header_timeout: expected a duration: an integer and a unit ms, s, m or h"},
  {"[server]\nclient_header_timeout = \"-1s\"\n", "2:25", "got \"-1s\""},
  {"[metrics]\nsummary_max_age = \"1.5s\"\n", "2:19",
   "metrics.summary_max_age: expected a duration"},
  {"[server]\nclient_body_timeout = 30\n", "2:23",
   "server.client_body_timeout: expected a duration string like \"10s\", got an integer"},
  {"[server]\nkeepalive_timeout = \"0s\"\n", "2:21",
   "server.keepalive_timeout: must be greater than 0, got \"0s\""},
  // Sizes.
  {"[server]\nmax_header_bytes = \"16KB\"\n", "2:20",
   "server.max_header_bytes: expected a size: bytes, or an integer and a unit B, KiB, MiB or GiB"},
  {"[server]\nmax_body_bytes = -1\n", "2:18", "server.max_body_bytes: must not be negative, got -1"},
  {"[server]\nmax_header_bytes = 0\n", "2:20", "server.max_header_bytes: must be at least 1, got 0"},
  {"[server]\nmax_body_bytes = 1.5\n", "2:18", "server.max_body_bytes: expected a size"},
  // Addresses.
  {"[server]\nlisten = [\"127.0.0.1:8080\", \"host:99999\"]\n", "2:29",
   "server.listen[1]: expected \"host:port\" or \"[ipv6]:port\" with a port of 0-65535, got \"host:99999\""},
  {"[server]\nlisten = [\"127.0.0.1:8080\", \"127.0.0.1:8080\"]\n", "2:29",
   "server.listen[1]: \"127.0.0.1:8080\" is listed twice"},
  {"[server]\nlisten = []\n", "2:10", "server.listen: needs at least one address"},
  {"[server]\nlisten = 8080\n", "2:10",
   "server.listen: expected an array of \"host:port\" strings, got an integer"},
  {"[admin]\nlisten = \"[::1]\"\n", "2:10", "admin.listen: expected \"host:port\""},
  {"[admin]\nlisten = \":9901\"\n", "2:10", "got \":9901\""},
  {"[admin]\ntoken = \"\"\n", "2:9", "admin.token: must not be empty"},
  {"[admin]\nstatus_interval = \"50ms\"\n", "2:19",
   "admin.status_interval: must be between 100ms and 10m"},
  {"[admin]\nstatus_interval = \"1h\"\n", "2:19",
   "admin.status_interval: must be between 100ms and 10m"},
  {"[admin]\ntoken = 42\n", "2:9", "admin.token: expected a string, got an integer"},
  // Metrics.
  {"[metrics]\ntop_paths = 1001\n", "2:13", "metrics.top_paths: must be between 0 and 1000, got 1001"},
  {"[metrics]\ntop_paths = \"20\"\n", "2:13", "metrics.top_paths: expected an integer, got a string"},
  {"[metrics]\nnamespace = \"my-app\"\n", "2:13",
   "metrics.namespace: must be a metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*), got \"my-app\""},
  {"[metrics]\nhistogram_buckets = [0.1, 0.5, 0.5]\n", "2:32",
   "metrics.histogram_buckets[2]: buckets must be strictly increasing"},
  {"[metrics]\nhistogram_buckets = []\n", "2:21",
   "metrics.histogram_buckets: needs at least one bucket"},
  {"[metrics]\nhistogram_buckets = [0.1, \"x\"]\n", "2:27",
   "metrics.histogram_buckets[1]: expected a number, got a string"},
  {"[metrics]\nhistogram_buckets = [0.1, inf]\n", "2:27",
   "metrics.histogram_buckets[1]: must be a finite number"},
  {"[metrics]\nsummary_quantiles = [[0.5, 0.05], [1.0, 0.01]]\n", "2:36",
   "metrics.summary_quantiles[1]: quantile must be between 0 and 1 (exclusive)"},
  {"[metrics]\nsummary_quantiles = [[0.5, 0]]\n", "2:28",
   "metrics.summary_quantiles[0]: error must be between 0 and 1 (exclusive)"},
  {"[metrics]\nsummary_quantiles = [[0.5]]\n", "2:22",
   "metrics.summary_quantiles[0]: expected a [quantile, error] pair, got an array of 1"},
  {"[metrics]\nsummary_quantiles = [0.5]\n", "2:22",
   "metrics.summary_quantiles[0]: expected a [quantile, error] pair, got a float"},
  {"[metrics]\nsummary_quantiles = [[0.5, 0.1], [0.5, 0.2]]\n", "2:34",
   "metrics.summary_quantiles[1]: quantile is listed twice"},
  {"[metrics]\nsummary_age_buckets = 0\n", "2:23",
   "metrics.summary_age_buckets: must be between 1 and 4294967295, got 0"},
  // Log.
  {"[log]\nformat = \"text\"\n", "2:10", "log.format: must be \"json\" or \"combined\", got \"text\""},
  {"[log]\nlevel = \"trace\"\n", "2:9",
   "log.level: must be \"debug\", \"info\", \"warn\" or \"error\", got \"trace\""},
  {"[log]\naccess = \"\"\n", "2:10", "log.access: must be \"off\", \"stdout\" or a file path"},
  // Upstreams.
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:0\"]\n", "3:12",
   "upstream \"car\": servers[0]: port must be between 1 and 65535, got \"127.0.0.1:0\""},
  {"[[upstream]]\nname = \"car\"\nservers = [\"a:1\", \"a:1\"]\n", "3:19",
   "upstream \"car\": servers[1]: \"a:1\" is listed twice"},
  {"[[upstream]]\nname = \"car\"\n", "1:1", "upstream \"car\": missing required key \"servers\""},
  {"[[upstream]]\nname = \"car\"\nservers = []\n", "3:11",
   "upstream \"car\": servers: needs at least one server"},
  {"[[upstream]]\nservers = [\"127.0.0.1:1\"]\n", "1:1",
   "upstream #1: missing required key \"name\""},
  {"[[upstream]]\nname = \"none\"\nservers = [\"127.0.0.1:1\"]\n", "2:8",
   "upstream \"none\": the name \"none\" is reserved for requests that match no route"},
  {"[[upstream]]\nname = \"car api\"\nservers = [\"127.0.0.1:1\"]\n", "2:8",
   "upstream #1: name: must be letters, digits, '_', '-' or '.', got \"car api\""},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nbalance = \"random\"\n", "4:11",
   "upstream \"car\": balance: must be \"round_robin\", \"least_conn\" or \"random_two\", got "
   "\"random\""},
  // Retries.
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretries = 6\n", "4:11",
   "upstream \"car\": retries: must be between 0 and 5, got 6"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretries = \"1\"\n", "4:11",
   "upstream \"car\": retries: expected an integer, got a string"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretry_on = [\"reset\", \"500\"]\n",
   "4:22",
   "upstream \"car\": retry_on[1]: must be \"connect_failure\", \"reset\", \"502\", \"503\", "
   "\"504\" or \"response_timeout\", got \"500\""},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretry_on = [\"reset\", \"reset\"]\n",
   "4:22", "upstream \"car\": retry_on[1]: \"reset\" is listed twice"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretry_on = [502]\n", "4:13",
   "upstream \"car\": retry_on[0]: expected a string, got an integer"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretry_on = \"reset\"\n", "4:12",
   "upstream \"car\": retry_on: expected an array"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretry_budget = 20\n", "4:16",
   "upstream \"car\": retry_budget: must be a ratio between 0 and 1, like 0.2, got 20"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretry_budget = -0.5\n", "4:16",
   "upstream \"car\": retry_budget: must be a ratio between 0 and 1, like 0.2, got -0.5"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretry_budget = \"20%\"\n", "4:16",
   "upstream \"car\": retry_budget: expected a number, got a string"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nretrys = 1\n", "4:1",
   "upstream \"car\": retrys: unknown key (did you mean \"retries\"?)"},
  // Servers as tables: { address = "host:port", weight = N }.
  {"[[upstream]]\nname = \"car\"\nservers = [\"a:1\", { address = \"a:2\", weight = 0 }]\n",
   "3:47", "upstream \"car\": servers[1].weight: must be between 1 and 1000, got 0"},
  {"[[upstream]]\nname = \"car\"\nservers = [{ address = \"a:2\", weight = 1001 }]\n", "3:40",
   "upstream \"car\": servers[0].weight: must be between 1 and 1000, got 1001"},
  {"[[upstream]]\nname = \"car\"\nservers = [{ address = \"a:2\", weight = \"2\" }]\n", "3:40",
   "upstream \"car\": servers[0].weight: expected an integer, got a string"},
  {"[[upstream]]\nname = \"car\"\nservers = [{ address = \"a\", weight = 2 }]\n", "3:24",
   "upstream \"car\": servers[0].address: expected \"host:port\""},
  {"[[upstream]]\nname = \"car\"\nservers = [{ address = \"a:0\" }]\n", "3:24",
   "upstream \"car\": servers[0].address: port must be between 1 and 65535, got \"a:0\""},
  {"[[upstream]]\nname = \"car\"\nservers = [{ address = \"a:1\", wieght = 2 }]\n", "3:31",
   "upstream \"car\": servers[0].wieght: unknown key (did you mean \"weight\"?)"},
  {"[[upstream]]\nname = \"car\"\nservers = [{ weight = 2 }]\n", "3:12",
   "upstream \"car\": servers[0]: missing required key \"address\""},
  {"[[upstream]]\nname = \"car\"\nservers = [\"a:1\", { address = \"a:1\", weight = 3 }]\n", "3:19",
   "upstream \"car\": servers[1]: \"a:1\" is listed twice"},
  {"[[upstream]]\nname = \"car\"\nservers = [9001]\n", "3:12",
   "upstream \"car\": servers[0]: expected a \"host:port\" string or a table { address = "
   "\"host:port\", weight = N }, got an integer"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nmax_idle_conections = 1\n", "4:1",
   "upstream \"car\": max_idle_conections: unknown key (did you mean \"max_idle_connections\"?)"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nconnect_timeout = \"0ms\"\n", "4:19",
   "upstream \"car\": connect_timeout: must be greater than 0"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\n[upstream.health]\ninterval = \"0s\"\n",
   "5:12", "upstream \"car\": health.interval: must be greater than 0"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\n[upstream.health]\npaht = \"/x\"\n",
   "5:1", "upstream \"car\": health.paht: unknown key (did you mean \"path\"?)"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\n[upstream.health]\npath = \"healthz\"\n",
   "5:8", "upstream \"car\": health.path: must start with '/', got \"healthz\""},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\n[upstream.health]\nunhealthy_after = 0\n",
   "5:19", "upstream \"car\": health.unhealthy_after: must be between 1 and"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\nhealth = true\n", "4:10",
   "upstream \"car\": health: expected a table, got a boolean"},
  {"[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:1\"]\n"
   "[[upstream]]\nname = \"car\"\nservers = [\"127.0.0.1:2\"]\n",
   "5:8", "upstream \"car\": the name is already used by the upstream at line 2"},
  // Routes (the upstream "car" is on lines 1-3).
  {CAR "[[route]]\nname = \"car-api\"\npath_prefix = \"/api/car/\"\nupstream = \"cars\"\n", "7:12",
   "route \"car-api\": upstream \"cars\" is not defined"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = 1\n", "7:12",
   "route \"r\": upstream: expected a string, got an integer"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\n", "4:1",
   "route \"r\": missing required key \"upstream\""},
  {CAR "[[route]]\npath = \"/\"\nupstream = \"car\"\n", "4:1",
   "route #1: missing required key \"name\""},
  {CAR "[[route]]\nname = \"unmatched\"\npath = \"/\"\nupstream = \"car\"\n", "5:8",
   "route \"unmatched\": the name \"unmatched\" is reserved"},
  {CAR "[[route]]\nname = \"r\"\nupstream = \"car\"\n", "4:1",
   "route \"r\": needs one of path, path_prefix or path_regex"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/a\"\npath_prefix = \"/b\"\nupstream = \"car\"\n", "7:15",
   "route \"r\": path and path_prefix cannot both be set"},
  {CAR "[[route]]\nname = \"r\"\npath_regex = \"^/a\"\npath = \"/b\"\nupstream = \"car\"\n", "7:8",
   "route \"r\": path and path_regex cannot both be set"},
  {CAR "[[route]]\nname = \"r\"\npath_prefix = \"api/\"\nupstream = \"car\"\n", "6:15",
   "route \"r\": path_prefix: must start with '/'"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/a?b=1\"\nupstream = \"car\"\n", "6:8",
   "route \"r\": path: must start with '/' and hold no spaces, '?' or '#'"},
  {CAR "[[route]]\nname = \"r\"\npath_regex = \"^/api/([\"\nupstream = \"car\"\n", "6:14",
   "route \"r\": path_regex: invalid regular expression \"^/api/([\""},
  {CAR "[[route]]\nname = \"r\"\npath = \"/a\"\nupstream = \"car\"\nstrip_prefix = true\n", "8:16",
   "route \"r\": strip_prefix: only works with path_prefix"},
  {CAR "[[route]]\nname = \"r\"\npath_prefix = \"/a\"\nupstream = \"car\"\nstrip_prefix = \"yes\"\n",
   "8:16", "route \"r\": strip_prefix: expected a boolean, got a string"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"car\"\nmethods = [\"GET\", \"BAD METHOD\"]\n",
   "8:19", "route \"r\": methods[1]: not a valid HTTP method, got \"BAD METHOD\""},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"car\"\nmethods = [\"get\", \"GET\"]\n",
   "8:19", "route \"r\": methods[1]: GET is listed twice"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"car\"\nmethods = []\n", "8:11",
   "route \"r\": methods: must not be empty"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"car\"\nmethods = \"GET\"\n", "8:11",
   "route \"r\": methods: expected an array, got a string"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"car\"\nhost = \"a.*.example.com\"\n", "8:8",
   "route \"r\": host: expected a host name like \"cars.example.com\" or \"*.example.com\" (no port)"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"car\"\nhost = \"example.com:8080\"\n", "8:8",
   "got \"example.com:8080\""},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"car\"\nhost = \"*\"\n", "8:8",
   "route \"r\": host: expected a host name"},
  {CAR "[[route]]\nname = \"r\"\npath_prefix = \"/\"\nstrip_prefx = true\nupstream = \"car\"\n",
   "7:1", "route \"r\": strip_prefx: unknown key (did you mean \"strip_prefix\"?)"},
  {CAR "[[route]]\nname = \"r\"\npath = \"/\"\nupstream = \"car\"\n"
       "[[route]]\nname = \"r\"\npath = \"/x\"\nupstream = \"car\"\n",
   "9:8", "route \"r\": the name is already used by the route at line 5"},
};
// clang-format on

}  // namespace

TEST_CASE("each config mistake is one error at the offending line:column", "[config]") {
  for (const ErrorCase& c : kCases) {
    INFO("TOML:\n" << c.toml);
    ConfigLoadResult result = parse_config(c.toml, "t.toml");
    INFO("errors:\n" << all_errors(result));
    CHECK_FALSE(result.ok());
    CHECK(result.errors.size() == 1);
    if (result.errors.empty()) continue;
    const std::string text = result.errors[0].to_string();
    CHECK(text.rfind(std::string("t.toml:") + c.at + ": ", 0) == 0);
    CHECK(text.find(c.fragment) != std::string::npos);
  }
}

TEST_CASE("every error of a file is reported at once, in file order", "[config]") {
  const char* toml =
      "[server]\n"                         // 1
      "workers = \"two\"\n"                // 2
      "[log]\n"                            // 3
      "level = \"loud\"\n"                 // 4
      "colour = true\n"                    // 5
      "[[upstream]]\n"                     // 6
      "name = \"car\"\n"                   // 7
      "servers = [\"127.0.0.1:99999\"]\n"  // 8
      "[[route]]\n"                        // 9
      "name = \"car-api\"\n"               // 10
      "path_prefix = \"/api/car/\"\n"      // 11
      "upstream = \"cars\"\n"              // 12
      "[[route]]\n"                        // 13
      "name = \"unmatched\"\n"             // 14
      "upstream = \"car\"\n";              // 15
  ConfigLoadResult result = parse_config(toml, "conf/routemeter.toml");
  REQUIRE_FALSE(result.ok());
  CHECK(all_errors(result) ==
        "conf/routemeter.toml:2:11: server.workers: expected an integer, got a string\n"
        "conf/routemeter.toml:4:9: log.level: must be \"debug\", \"info\", \"warn\" or \"error\", "
        "got \"loud\"\n"
        "conf/routemeter.toml:5:1: log.colour: unknown key\n"
        "conf/routemeter.toml:8:12: upstream \"car\": servers[0]: expected \"host:port\" or "
        "\"[ipv6]:port\" with a port of 0-65535, got \"127.0.0.1:99999\"\n"
        "conf/routemeter.toml:12:12: route \"car-api\": upstream \"cars\" is not defined\n"
        "conf/routemeter.toml:13:1: route \"unmatched\": needs one of path, path_prefix or "
        "path_regex\n"
        "conf/routemeter.toml:14:8: route \"unmatched\": the name \"unmatched\" is reserved for "
        "requests that match no route\n");
}

TEST_CASE("an invalid config gives no config, a valid one no errors", "[config]") {
  ConfigLoadResult bad = parse_config("[server]\nworkers = true\n", "t.toml");
  CHECK(bad.config == nullptr);
  CHECK(bad.errors.size() == 1);
  ConfigLoadResult good = parse_config("[server]\nworkers = 2\n", "t.toml");
  CHECK(good.config != nullptr);
  CHECK(good.errors.empty());
}
